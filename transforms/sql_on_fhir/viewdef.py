"""ViewDefinition model: load a SQL-on-FHIR v2 ViewDefinition and check the specification's rules.

Every structural error names the offending element path (``select[0].column[1].path``); the
messages quote only view configuration, never resource content.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fhirpath import Constant as ConstantReference
from .fhirpath import Expression, FHIRPathSyntaxError, parse

__all__ = [
    "Column",
    "Constant",
    "SelectNode",
    "Tag",
    "ViewDefinition",
    "ViewDefinitionError",
    "load_view",
    "parse_view",
]

# The SQL-on-FHIR column name rule: a database-friendly name.
_COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")

# FHIR primitive types a column may declare (plus the FHIRPath system types).
PRIMITIVE_TYPES = {
    "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
    "instant", "integer", "integer64", "markdown", "oid", "positiveInt", "string", "time",
    "unsignedInt", "uri", "url", "uuid", "xhtml",
}  # fmt: skip

_SELECT_KEYS = {
    "column",
    "select",
    "forEach",
    "forEachOrNull",
    "repeat",
    "unionAll",
    "extension",
    "id",
}
_COLUMN_KEYS = {"name", "path", "type", "collection", "description", "tag", "extension", "id"}


class ViewDefinitionError(ValueError):
    """A ViewDefinition that breaks a rule of the specification.

    Attributes:
        element: the element path of the offence, e.g. ``select[0].forEach``.
    """

    def __init__(self, element: str, message: str):
        self.element = element
        super().__init__(f"{element}: {message}" if element else message)


@dataclass(frozen=True)
class Tag:
    name: str
    value: str


@dataclass(frozen=True)
class Column:
    """One output column of a view."""

    name: str
    path: str
    expression: Expression
    element: str  # element path in the view, e.g. select[0].column[2]
    type: str | None = None
    collection: bool = False
    description: str | None = None
    tags: tuple[Tag, ...] = ()
    extensions: tuple[dict, ...] = ()

    def tag(self, name: str) -> str | None:
        """The value of the first tag called ``name``, or None."""
        return next((t.value for t in self.tags if t.name == name), None)


@dataclass(frozen=True)
class SelectNode:
    element: str
    columns: tuple[Column, ...] = ()
    selects: tuple[SelectNode, ...] = ()
    union_all: tuple[SelectNode, ...] = ()
    for_each: Expression | None = None
    for_each_or_null: Expression | None = None
    repeat: tuple[Expression, ...] = ()
    iteration_text: str | None = None

    def output_columns(self) -> list[Column]:
        """Columns this node produces, in the order the specification defines."""
        out = list(self.columns)
        for child in self.selects:
            out.extend(child.output_columns())
        if self.union_all:
            out.extend(self.union_all[0].output_columns())
        return out


@dataclass(frozen=True)
class Constant:
    name: str
    value: Any
    value_type: str  # the FHIR type of value[x], e.g. "string", "integer", "date"


@dataclass(frozen=True)
class ViewDefinition:
    resource: str
    select: tuple[SelectNode, ...]
    where: tuple[tuple[str, Expression], ...] = ()
    constants: dict[str, Constant] = field(default_factory=dict)
    name: str | None = None
    status: str | None = None
    description: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def columns(self) -> list[Column]:
        """All output columns in order."""
        out: list[Column] = []
        for node in self.select:
            out.extend(node.output_columns())
        return out


# --------------------------------------------------------------------------------------------


def load_view(path: str | Path) -> ViewDefinition:
    """Load and validate a ViewDefinition JSON file.

    Args:
        path: a ``.json`` file holding one ViewDefinition.

    Raises:
        ViewDefinitionError: the file is not valid JSON or breaks a ViewDefinition rule.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ViewDefinitionError(
            "", f"{path.name} is not valid JSON (line {exc.lineno})"
        ) from None
    return parse_view(document)


def parse_view(document: Any) -> ViewDefinition:
    """Validate a ViewDefinition held as a Python dict and build its model.

    Args:
        document: the decoded JSON of a ViewDefinition.

    Raises:
        ViewDefinitionError: the view breaks a rule; the error names the element path.
    """
    if not isinstance(document, dict):
        raise ViewDefinitionError("", "a ViewDefinition must be a JSON object")
    if document.get("resourceType", "ViewDefinition") != "ViewDefinition":
        raise ViewDefinitionError("resourceType", "must be 'ViewDefinition'")
    resource = document.get("resource")
    if resource is None:
        raise ViewDefinitionError("resource", "is required (the FHIR resource type the view reads)")
    if not isinstance(resource, str) or not _RESOURCE_TYPE.match(resource):
        raise ViewDefinitionError("resource", "must be a FHIR resource type name such as 'Patient'")

    name = document.get("name")
    if name is not None and (not isinstance(name, str) or not _COLUMN_NAME.match(name)):
        # view names become table names downstream: letters, digits and '_' only
        raise ViewDefinitionError("name", "must be letters, digits and '_', starting with a letter")
    constants = _parse_constants(document.get("constant", []))
    select = document.get("select")
    if not isinstance(select, list) or not select:
        raise ViewDefinitionError("select", "is required and must be a non-empty array")
    nodes = tuple(_parse_select(item, f"select[{i}]") for i, item in enumerate(select))

    where_items = document.get("where", [])
    if not isinstance(where_items, list):
        raise ViewDefinitionError("where", "must be an array")
    where: list[tuple[str, Expression]] = []
    for i, item in enumerate(where_items):
        element = f"where[{i}]"
        if not isinstance(item, dict) or "path" not in item:
            raise ViewDefinitionError(element, "must be an object with a 'path'")
        where.append((item["path"], _parse_path(item["path"], f"{element}.path")))

    view = ViewDefinition(
        resource=resource,
        select=nodes,
        where=tuple(where),
        constants=constants,
        name=document.get("name"),
        status=document.get("status"),
        description=document.get("description"),
        raw=document,
    )
    _check_unique_columns(view)
    _check_constant_references(view)
    return view


def _parse_constants(items: Any) -> dict[str, Constant]:
    if not isinstance(items, list):
        raise ViewDefinitionError("constant", "must be an array")
    constants: dict[str, Constant] = {}
    for i, item in enumerate(items):
        element = f"constant[{i}]"
        if not isinstance(item, dict):
            raise ViewDefinitionError(element, "must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not _COLUMN_NAME.match(name):
            raise ViewDefinitionError(f"{element}.name", "is required and must be a simple name")
        values = [k for k in item if k.startswith("value")]
        if len(values) != 1:
            raise ViewDefinitionError(element, "must have exactly one value[x]")
        key = values[0]
        value_type = key[5:6].lower() + key[6:]
        if value_type not in PRIMITIVE_TYPES:
            raise ViewDefinitionError(f"{element}.{key}", "must be a primitive FHIR type")
        if name in constants:
            raise ViewDefinitionError(f"{element}.name", f"constant {name!r} is defined twice")
        constants[name] = Constant(name, item[key], value_type)
    return constants


def _parse_path(text: Any, element: str) -> Expression:
    if not isinstance(text, str):
        raise ViewDefinitionError(element, "must be a FHIRPath string")
    try:
        return parse(text)
    except FHIRPathSyntaxError as exc:
        raise ViewDefinitionError(element, str(exc)) from None


def _parse_select(item: Any, element: str) -> SelectNode:
    if not isinstance(item, dict):
        raise ViewDefinitionError(element, "must be an object")
    unknown = sorted(set(item) - _SELECT_KEYS)
    if unknown:
        raise ViewDefinitionError(element, f"unknown element(s) {', '.join(unknown)}")

    iterations = [k for k in ("forEach", "forEachOrNull", "repeat") if k in item]
    if len(iterations) > 1:
        raise ViewDefinitionError(element, "may have only one of forEach, forEachOrNull, repeat")
    for_each = for_each_or_null = None
    repeat: tuple[Expression, ...] = ()
    iteration_text = None
    if "forEach" in item:
        for_each = _parse_path(item["forEach"], f"{element}.forEach")
        iteration_text = item["forEach"]
    if "forEachOrNull" in item:
        for_each_or_null = _parse_path(item["forEachOrNull"], f"{element}.forEachOrNull")
        iteration_text = item["forEachOrNull"]
    if "repeat" in item:
        paths = item["repeat"]
        if not isinstance(paths, list) or not paths:
            raise ViewDefinitionError(
                f"{element}.repeat", "must be a non-empty array of FHIRPath strings"
            )
        repeat = tuple(_parse_path(p, f"{element}.repeat[{i}]") for i, p in enumerate(paths))
        iteration_text = " | ".join(paths)

    columns = tuple(
        _parse_column(c, f"{element}.column[{i}]")
        for i, c in enumerate(_array(item, "column", element))
    )
    selects = tuple(
        _parse_select(s, f"{element}.select[{i}]")
        for i, s in enumerate(_array(item, "select", element))
    )
    union_all = tuple(
        _parse_select(s, f"{element}.unionAll[{i}]")
        for i, s in enumerate(_array(item, "unionAll", element))
    )
    if not (columns or selects or union_all):
        raise ViewDefinitionError(element, "needs at least one of column, select, unionAll")
    if union_all:
        first = [c.name for c in union_all[0].output_columns()]
        for i, branch in enumerate(union_all[1:], start=1):
            names = [c.name for c in branch.output_columns()]
            if names != first:
                raise ViewDefinitionError(
                    f"{element}.unionAll[{i}]",
                    f"columns {names} differ from unionAll[0]'s {first} (names and order must match)",
                )
    return SelectNode(
        element=element,
        columns=columns,
        selects=selects,
        union_all=union_all,
        for_each=for_each,
        for_each_or_null=for_each_or_null,
        repeat=repeat,
        iteration_text=iteration_text,
    )


def _array(item: dict, key: str, element: str) -> list:
    value = item.get(key, [])
    if not isinstance(value, list):
        raise ViewDefinitionError(f"{element}.{key}", "must be an array")
    return value


def _parse_column(item: Any, element: str) -> Column:
    if not isinstance(item, dict):
        raise ViewDefinitionError(element, "must be an object")
    unknown = sorted(set(item) - _COLUMN_KEYS)
    if unknown:
        raise ViewDefinitionError(element, f"unknown element(s) {', '.join(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not _COLUMN_NAME.match(name):
        raise ViewDefinitionError(
            f"{element}.name", "is required: letters, digits and '_', starting with a letter"
        )
    if "path" not in item:
        raise ViewDefinitionError(f"{element}.path", "is required")
    expression = _parse_path(item["path"], f"{element}.path")
    column_type = item.get("type")
    if column_type is not None and (not isinstance(column_type, str) or not column_type):
        raise ViewDefinitionError(f"{element}.type", "must be a FHIR type name")
    collection = item.get("collection", False)
    if not isinstance(collection, bool):
        raise ViewDefinitionError(f"{element}.collection", "must be true or false")
    tags = []
    for i, tag in enumerate(item.get("tag", []) or []):
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str) or "value" not in tag:
            raise ViewDefinitionError(
                f"{element}.tag[{i}]", "must be an object with name and value"
            )
        tags.append(Tag(tag["name"], str(tag["value"])))
    return Column(
        name=name,
        path=item["path"],
        expression=expression,
        element=element,
        type=column_type,
        collection=collection,
        description=item.get("description"),
        tags=tuple(tags),
        extensions=tuple(item.get("extension", []) or []),
    )


def _check_unique_columns(view: ViewDefinition) -> None:
    # SQL identifiers are case-insensitive, so 'Code' and 'code' would collide in a table.
    seen: dict[str, str] = {}
    for column in view.columns:
        key = column.name.lower()
        if key in seen:
            raise ViewDefinitionError(
                column.element, f"column name {column.name!r} is already used at {seen[key]}"
            )
        seen[key] = column.element


_BUILTIN_CONSTANTS = {"rowIndex", "resource", "rootResource", "context", "ucum", "sct", "loinc"}


def _check_constant_references(view: ViewDefinition) -> None:
    def walk(expression: Any, element: str) -> None:
        if isinstance(expression, ConstantReference):
            if expression.name not in view.constants and expression.name not in _BUILTIN_CONSTANTS:
                raise ViewDefinitionError(
                    element, f"refers to undefined constant %{expression.name}"
                )
            return
        if hasattr(expression, "__dataclass_fields__"):
            for name in expression.__dataclass_fields__:
                value = getattr(expression, name)
                if isinstance(value, tuple):
                    for item in value:
                        walk(item, element)
                else:
                    walk(value, element)

    def visit(node: SelectNode) -> None:
        for column in node.columns:
            walk(column.expression, f"{column.element}.path")
        for key, expression in (
            ("forEach", node.for_each),
            ("forEachOrNull", node.for_each_or_null),
        ):
            if expression is not None:
                walk(expression, f"{node.element}.{key}")
        for i, expression in enumerate(node.repeat):
            walk(expression, f"{node.element}.repeat[{i}]")
        for child in (*node.selects, *node.union_all):
            visit(child)

    for node in view.select:
        visit(node)
    for i, (_text, expression) in enumerate(view.where):
        walk(expression, f"where[{i}].path")
