"""Compile a SQL-on-FHIR v2 ViewDefinition into one DuckDB SQL query over JSON resources.

Shape of the generated query (read it with ``chartetl view-sql VIEW.json``)::

    WITH parsed AS (        -- one JSON parse per resource: every root element the view reads
        SELECT resource, json_extract(resource, ['$.resourceType', '$.id', ...]) AS _e FROM <source>
    ), focus AS (           -- root elements as named columns, only the view's resource type
        SELECT resource, _e[2] AS "f_id", ... FROM parsed WHERE _e[1] ->> '$' = 'Patient'
    ), selected AS (        -- the view's where clauses
        SELECT * FROM focus AS _r WHERE ...
    )
    SELECT <columns> FROM selected AS _r
    CROSS JOIN unnest(<rows of a forEach/repeat/unionAll select>) AS _u1(_row1) ...

FHIRPath collections are DuckDB ``JSON[]`` lists; navigation flattens through the ``fhir_*``
macros of ``macros.sql``. Scalars whose FHIRPath type is known (literals, constants, function
results, ``ofType``) are typed SQL values. A select with ``forEach``, ``forEachOrNull``,
``repeat`` or ``unionAll`` becomes a list of structs (one struct per row) built with list
lambdas, so nesting composes without correlated subqueries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .fhirpath import (
    Binary,
    Constant,
    EmptyLiteral,
    Expression,
    FunctionCall,
    Indexer,
    Literal,
    Member,
    TypeOperation,
    Unary,
    Variable,
)
from .schema import R4B, FHIRSchema
from .viewdef import Column, SelectNode, ViewDefinition, ViewDefinitionError

__all__ = ["ERROR_MARKER", "CompiledColumn", "CompiledView", "compile_view", "sql_type_for"]

# Runtime errors raised by compiled SQL carry this marker, so the runner can tell its own
# (value-free) messages from DuckDB's, which may quote data and are never passed on.
ERROR_MARKER = "chartetl-view-error:"

# Depth limit of ``repeat``; deeper data raises an error instead of being cut silently.
REPEAT_MAX_DEPTH = 32

# FHIR primitive type -> FHIRPath system type.
_FHIR_TO_SYSTEM = {
    "boolean": "Boolean",
    "string": "String", "code": "String", "id": "String", "uri": "String", "url": "String",
    "canonical": "String", "oid": "String", "uuid": "String", "markdown": "String",
    "base64Binary": "String", "xhtml": "String",
    "integer": "Integer", "positiveInt": "Integer", "unsignedInt": "Integer", "integer64": "Integer",
    "decimal": "Decimal",
    "date": "Date", "dateTime": "DateTime", "instant": "DateTime", "time": "Time",
}  # fmt: skip

# FHIR type of a column -> DuckDB type of the output column.
_SQL_TYPES = {
    "boolean": "BOOLEAN",
    "integer": "INTEGER", "positiveInt": "INTEGER", "unsignedInt": "INTEGER",
    "integer64": "BIGINT",
    "decimal": "DOUBLE",
}  # fmt: skip

# FHIRPath system type -> DuckDB type of a typed scalar.
_SYSTEM_SQL = {"Boolean": "BOOLEAN", "Integer": "BIGINT", "Decimal": "DOUBLE"}
_NUMERIC = {"Integer", "Decimal"}
_SYSTEM_TO_FHIR = {"Boolean": "boolean", "Integer": "integer", "Decimal": "decimal"}


def sql_type_for(fhir_type: str | None) -> str:
    """DuckDB type of a column declared with FHIR type ``fhir_type`` (strings for the rest)."""
    return _SQL_TYPES.get(fhir_type or "string", "VARCHAR")


def _system_type(type_name: str) -> str:
    """Normalise ``FHIR.string``/``System.String``/``dateTime`` to a FHIRPath type name."""
    name = type_name.split(".")[-1]
    if name in _FHIR_TO_SYSTEM:
        return _FHIR_TO_SYSTEM[name]
    return name


def _quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Static:
    """A navigation chain resolved against the FHIR schema: one JSON path from a base.

    ``path`` has ``[*]`` after every repeating element, so DuckDB's ``json_extract`` does the
    flattening; ``multiple`` is True when it has any (the result is then a list).
    """

    base: str | None  # SQL of the JSON value the path starts from; None = the resource root
    path: str
    type_name: str | None  # model of the items (None: primitive or unknown)

    @property
    def multiple(self) -> bool:
        return "[*]" in self.path


@dataclass(frozen=True)
class _Value:
    """A compiled FHIRPath expression.

    ``collection`` True: ``sql`` is a ``JSON[]`` list. False: a typed SQL scalar (NULL = empty).
    ``type`` is the FHIRPath type of the items when known. ``single_json``: for a collection of
    at most one item known from the schema, the SQL of that item as JSON (NULL when empty).
    """

    sql: str
    collection: bool
    type: str | None = None
    static: _Static | None = None
    single_json: str | None = None


@dataclass(frozen=True)
class _Scope:
    focus: str | None  # SQL of the focus as one JSON value; None = the resource root
    row_index: str = "0"
    index: str | None = None  # $index inside where()/select()
    null_focus: bool = False
    model: str | None = None  # FHIR type of the focus, when the schema knows it


@dataclass(frozen=True)
class CompiledColumn:
    """An output column with its declared metadata (tags carry de-identification classes)."""

    name: str
    sql_type: str
    column: Column

    @property
    def tags(self):
        return self.column.tags

    @property
    def description(self) -> str | None:
        return self.column.description


@dataclass(frozen=True)
class CompiledView:
    """A ViewDefinition compiled to DuckDB SQL.

    Attributes:
        view: the validated ViewDefinition.
        columns: output columns in order, with SQL types and the view's tags.
    """

    view: ViewDefinition
    columns: tuple[CompiledColumn, ...]
    _paths: str
    _field_columns: str
    _where: str
    _select_items: tuple[str, ...]
    _joins: tuple[str, ...]

    def sql(self, source: str = "resources", carry: tuple[str, ...] = ()) -> str:
        """The query over ``source``: a table, view or ``(subquery)`` with a ``resource`` JSON column.

        Args:
            source: the relation holding the resources.
            carry: further columns of ``source`` (lineage such as the file hash and line) to
                pass through unchanged, after the view's columns.
        """
        carried = "".join(f", {_quote_ident(name)}" for name in carry)
        select_items = list(self._select_items) + [f"    _r.{_quote_ident(name)}" for name in carry]
        return (
            "WITH parsed AS (\n"
            f"    SELECT resource{carried}, json_extract(resource, [{self._paths}]) AS _e\n"
            f"    FROM {source}\n"
            "), focus AS (\n"
            f"    SELECT resource{carried}{self._field_columns}\n"
            "    FROM parsed\n"
            f"    WHERE (_e[1] ->> '$') = {_quote_string(self.view.resource)}\n"
            "), selected AS (\n"
            "    SELECT * FROM focus AS _r\n"
            f"    WHERE {self._where}\n"
            ")\n"
            "SELECT\n"
            + ",\n".join(select_items)
            + "\nFROM selected AS _r"
            + "".join(f"\n{j}" for j in self._joins)
        )


@dataclass
class _Rows:
    """The rows a select node yields for one focus."""

    names: list[str]
    types: list[str]
    single: list[str] | None = None  # one SQL expression per column when exactly one row
    rows: str | None = None  # SQL of a LIST(STRUCT) otherwise

    def struct(self) -> str:
        assert self.single is not None
        return _struct(self.names, self.single)

    def as_list(self) -> str:
        return self.rows if self.rows is not None else f"[{self.struct()}]"


def _struct(names: list[str], values: list[str]) -> str:
    return (
        "{"
        + ", ".join(f"{_quote_string(n)}: {v}" for n, v in zip(names, values, strict=True))
        + "}"
    )


@dataclass
class _Compiler:
    view: ViewDefinition
    schema: FHIRSchema | None = None
    root_fields: dict[str, str] = field(default_factory=dict)  # JSON path -> column alias
    counter: int = 0
    element: str = ""

    # ---------------------------------------------------------------------------------- helpers
    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"_{prefix}{self.counter}"

    def fail(self, message: str) -> ViewDefinitionError:
        return ViewDefinitionError(self.element, message)

    def runtime_error(self, message: str) -> str:
        """A SQL string literal for error(): names the view element, never a value."""
        return _quote_string(f"{ERROR_MARKER} {self.element}: {message}")

    def root_field(self, path: str) -> str:
        """Column of the ``focus`` CTE holding ``path`` (no wildcards) of every resource."""
        if path not in self.root_fields:
            readable = "_".join(
                part for part in path[2:].replace("[", "_").replace("]", "").split(".") if part
            )
            self.root_fields[path] = f"f{len(self.root_fields) + 1}_{readable}"[:60]
        return f"_r.{_quote_ident(self.root_fields[path])}"

    def static_value(self, static: _Static, value_type: str | None = None) -> _Value:
        """SQL for a schema-resolved path: one ``json_extract``, no per-item lambdas."""
        if not static.multiple:
            json = (
                self.root_field(static.path)
                if static.base is None
                else f"json_extract({static.base}, '{static.path}')"
            )
            return _Value(f"fhir_list({json})", True, value_type, static, single_json=json)
        if static.base is None:
            # multi-path json_extract takes no wildcards: extract the prefix once, then the rest
            cut = static.path.index("[*]")
            prefix, rest = static.path[:cut], "$" + static.path[cut:]
            items = f"json_extract({self.root_field(prefix)}, '{rest}')"
        else:
            items = f"json_extract({static.base}, '{static.path}')"
        items = f"coalesce({items}, []::JSON[])"
        if static.type_name is None and static.path.endswith("[*]"):
            # a repeating primitive may hold JSON nulls (its values then live only in _name)
            var = self.fresh("p")
            items = f"list_filter({items}, lambda {var}: json_type({var}) <> 'NULL')"
        return _Value(items, True, value_type, static)

    def navigate(self, base: _Value | None, name: str, scope: _Scope) -> _Value:
        """Child element ``name`` of ``base`` (None: of the scope's focus)."""
        path = f"'$.{name}'"
        if base is None:
            if scope.null_focus:
                return _Value("[]::JSON[]", True, None)
            element = (
                self.schema.element(scope.model, name) if self.schema and scope.model else None
            )
            if element is not None:
                suffix = "[*]" if element.multiple else ""
                return self.static_value(
                    _Static(scope.focus, f"$.{name}{suffix}", element.type_name)
                )
            if scope.focus is None:
                return _Value(f"fhir_list({self.root_field(f'$.{name}')})", True, None)
            return _Value(f"fhir_list(json_extract({scope.focus}, {path}))", True, None)
        if not base.collection:
            raise self.fail(f"cannot navigate to {name!r} from a {base.type} value")
        static = base.static
        if self.schema and static is not None and static.type_name:
            element = self.schema.element(static.type_name, name)
            if element is not None:
                suffix = "[*]" if element.multiple else ""
                return self.static_value(
                    _Static(static.base, f"{static.path}.{name}{suffix}", element.type_name)
                )
        return _Value(f"fhir_child({base.sql}, {path})", True, None)

    def narrow_static(self, base: _Value, position: int) -> _Value | None:
        """``first()``/``[n]`` on a path whose only repeating element is the last step."""
        static = base.static
        if static is None or not static.path.endswith("[*]") or static.path.count("[*]") != 1:
            return None
        return self.static_value(
            _Static(static.base, f"{static.path[:-3]}[{position}]", static.type_name), base.type
        )

    def focus_collection(self, scope: _Scope) -> str:
        if scope.null_focus:
            return "[]::JSON[]"
        if scope.focus is None:
            return "[_r.resource]"
        return f"[{scope.focus}]"

    def focus_json(self, scope: _Scope) -> str:
        if scope.null_focus:
            return "NULL::JSON"
        return "_r.resource" if scope.focus is None else scope.focus

    # -------------------------------------------------------------------------- conversions
    def as_collection(self, value: _Value) -> str:
        if value.collection:
            return value.sql
        return f"fhir_wrap({value.sql})"

    def json_to_sql(self, json_sql: str, fhir_or_system_type: str | None) -> tuple[str, str | None]:
        """Convert one JSON item to a typed scalar; returns (sql, FHIRPath type)."""
        system = _system_type(fhir_or_system_type) if fhir_or_system_type else None
        if system == "Boolean":
            return f"CAST({json_sql} AS BOOLEAN)", system
        if system == "Integer":
            return f"CAST({json_sql} AS BIGINT)", system
        if system == "Decimal":
            return f"CAST({json_sql} AS DOUBLE)", system
        if system in ("String", "Date", "DateTime", "Time"):
            return f"({json_sql} ->> '$')", system
        return json_sql, None  # unknown or complex: stays JSON

    def as_scalar(self, value: _Value, wanted: str | None = None) -> _Value:
        """A singleton as a typed scalar (``wanted`` FHIRPath type, or the value's own)."""
        if not value.collection:
            if wanted and value.type != wanted and wanted in _SYSTEM_SQL:
                return _Value(f"CAST({value.sql} AS {_SYSTEM_SQL[wanted]})", False, wanted)
            return value
        item = (
            value.single_json
            or f"fhir_singleton({value.sql}, {self.runtime_error('expected at most one item')})"
        )
        sql, system = self.json_to_sql(item, wanted or value.type)
        return _Value(sql, False, system)

    def as_boolean(self, value: _Value) -> str:
        if not value.collection:
            if value.type == "Boolean":
                return value.sql
            return f"({value.sql} IS NOT NULL)"
        if value.single_json is not None:
            json = value.single_json
            return f"(CASE WHEN json_type({json}) = 'BOOLEAN' THEN CAST({json} AS BOOLEAN) WHEN {json} IS NOT NULL THEN true END)"
        return f"fhir_truthy({value.sql}, {self.runtime_error('expected at most one item where a boolean is needed')})"

    # ----------------------------------------------------------------------------- FHIRPath
    def expr(self, node: Expression, scope: _Scope) -> _Value:
        method = getattr(self, f"_expr_{type(node).__name__}")
        return method(node, scope)

    def _expr_Literal(self, node: Literal, scope: _Scope) -> _Value:
        if node.type == "Boolean":
            return _Value("true" if node.value else "false", False, "Boolean")
        if node.type == "Integer":
            return _Value(f"{int(node.value)}::BIGINT", False, "Integer")
        if node.type == "Decimal":
            return _Value(f"{node.value}::DOUBLE", False, "Decimal")
        if node.type == "Quantity":
            raise self.fail("quantity literals are not supported in views")
        return _Value(_quote_string(str(node.value)), False, node.type)

    def _expr_EmptyLiteral(self, node: EmptyLiteral, scope: _Scope) -> _Value:
        return _Value("[]::JSON[]", True, None)

    def _expr_Constant(self, node: Constant, scope: _Scope) -> _Value:
        if node.name == "rowIndex":
            return _Value(scope.row_index, False, "Integer")
        if node.name in ("resource", "rootResource"):
            return _Value("[_r.resource]", True, self.view.resource)
        constant = self.view.constants.get(node.name)
        if constant is None:
            raise self.fail(f"refers to undefined constant %{node.name}")
        system = _FHIR_TO_SYSTEM.get(constant.value_type, "String")
        if system == "Boolean":
            return _Value("true" if constant.value else "false", False, system)
        if system == "Integer":
            return _Value(f"{int(constant.value)}::BIGINT", False, system)
        if system == "Decimal":
            return _Value(f"{float(constant.value)!r}::DOUBLE", False, system)
        return _Value(_quote_string(str(constant.value)), False, system)

    def _expr_Variable(self, node: Variable, scope: _Scope) -> _Value:
        if node.name == "this":
            return _Value(self.focus_collection(scope), True, None)
        if node.name == "index" and scope.index:
            return _Value(scope.index, False, "Integer")
        raise self.fail(f"${node.name} is not available here")

    def _expr_Member(self, node: Member, scope: _Scope) -> _Value:
        if (
            node.target is None
            and scope.focus is None
            and not scope.null_focus
            and node.name == self.view.resource
        ):
            return _Value(
                "[_r.resource]", True, self.view.resource
            )  # 'Patient.name': the type names the root
        base = None if node.target is None else self.expr(node.target, scope)
        return self.navigate(base, node.name, scope)

    def _expr_Indexer(self, node: Indexer, scope: _Scope) -> _Value:
        base = self.expr(node.target, scope)
        if isinstance(node.index, Literal) and node.index.type == "Integer":
            narrowed = self.narrow_static(base, int(node.index.value))
            if narrowed is not None:
                return narrowed
        index = self.as_scalar(self.expr(node.index, scope), "Integer")
        position = f"(({index.sql}) + 1)"
        return _Value(
            f"list_slice({self.as_collection(base)}, {position}, {position})", True, base.type
        )

    def _expr_Unary(self, node: Unary, scope: _Scope) -> _Value:
        operand = self.as_scalar(self.expr(node.operand, scope))
        if operand.type not in _NUMERIC and operand.type is not None:
            raise self.fail(f"unary {node.op} needs a number")
        if operand.type is None:
            operand = _Value(f"CAST({operand.sql} AS DOUBLE)", False, "Decimal")
        return _Value(f"({node.op}{operand.sql})", False, operand.type)

    def _expr_TypeOperation(self, node: TypeOperation, scope: _Scope) -> _Value:
        if node.op == "as":
            return self._of_type(node.operand, node.type_name, scope)
        filtered = self._of_type(node.operand, node.type_name, scope)
        return _Value(f"(len({filtered.sql}) > 0)", False, "Boolean")

    def _expr_Binary(self, node: Binary, scope: _Scope) -> _Value:
        op = node.op
        if op in ("and", "or", "xor", "implies"):
            left = self.as_boolean(self.expr(node.left, scope))
            right = self.as_boolean(self.expr(node.right, scope))
            if op == "implies":
                return _Value(f"((NOT {left}) OR {right})", False, "Boolean")
            if op == "xor":
                return _Value(f"({left} <> {right})", False, "Boolean")
            return _Value(f"({left} {op.upper()} {right})", False, "Boolean")
        left_value = self.expr(node.left, scope)
        right_value = self.expr(node.right, scope)
        if op == "|":
            both = (
                f"list_concat({self.as_collection(left_value)}, {self.as_collection(right_value)})"
            )
            return _Value(
                f"list_distinct({both})",
                True,
                left_value.type if left_value.type == right_value.type else None,
            )
        if op in ("in", "contains"):
            item, container = (left_value, right_value) if op == "in" else (right_value, left_value)
            item_json = self.as_collection(item)
            return _Value(
                f"list_has_all({self.as_collection(container)}, {item_json})",
                False,
                "Boolean",
            )
        if op in ("=", "!=", "~", "!~", "<", "<=", ">", ">="):
            return self._comparison(op, left_value, right_value)
        if op == "&":
            left = self.as_scalar(left_value, "String")
            right = self.as_scalar(right_value, "String")
            return _Value(
                f"(coalesce({left.sql}, '') || coalesce({right.sql}, ''))", False, "String"
            )
        if op in ("+", "-", "*", "/", "div", "mod"):
            return self._arithmetic(op, left_value, right_value)
        raise self.fail(f"operator {op!r} is not supported")

    def _typed_pair(self, left: _Value, right: _Value) -> tuple[_Value, _Value, str | None]:
        """Bring two operands to a common known type when either side's type is known."""
        known = [
            v.type for v in (left, right) if v.type is not None and v.type in _FHIRPATH_SCALARS
        ]
        if not known:
            return left, right, None
        if all(t in _NUMERIC for t in known) and len(known) == 2 and known[0] != known[1]:
            target = "Decimal"
        else:
            target = known[0]
        target_sql = "String" if target in ("Date", "DateTime", "Time") else target
        return self.as_scalar(left, target_sql), self.as_scalar(right, target_sql), target

    def _comparison(self, op: str, left_value: _Value, right_value: _Value) -> _Value:
        left, right, target = self._typed_pair(left_value, right_value)
        if target is None:  # neither type known when compiling: compare JSON items at run time
            a = (
                self.as_scalar(left_value).sql
                if left_value.collection
                else f"to_json({left_value.sql})"
            )
            b = (
                self.as_scalar(right_value).sql
                if right_value.collection
                else f"to_json({right_value.sql})"
            )
            # (as_scalar of an untyped collection leaves the single JSON item as it is)
            if op in ("=", "~"):
                return _Value(f"fhir_json_equal({a}, {b})", False, "Boolean")
            if op in ("!=", "!~"):
                return _Value(f"(NOT fhir_json_equal({a}, {b}))", False, "Boolean")
            return _Value(f"(fhir_json_order({a}, {b}) {op} 0)", False, "Boolean")
        if op in ("~", "!~"):
            if target == "String":
                a, b = f"lower(trim({left.sql}))", f"lower(trim({right.sql}))"
            else:
                a, b = left.sql, right.sql
            equal = f"({a} IS NOT DISTINCT FROM {b})"
            return _Value(equal if op == "~" else f"(NOT {equal})", False, "Boolean")
        sql_op = "<>" if op == "!=" else op
        return _Value(f"({left.sql} {sql_op} {right.sql})", False, "Boolean")

    def _arithmetic(self, op: str, left_value: _Value, right_value: _Value) -> _Value:
        if op == "+" and "String" in (left_value.type, right_value.type):
            left = self.as_scalar(left_value, "String")
            right = self.as_scalar(right_value, "String")
            return _Value(f"({left.sql} || {right.sql})", False, "String")
        types = {left_value.type, right_value.type}
        result_type = "Integer" if types == {"Integer"} and op not in ("/",) else "Decimal"
        left = self.as_scalar(left_value, result_type)
        right = self.as_scalar(right_value, result_type)
        if op == "/":
            return _Value(f"({left.sql} / nullif({right.sql}, 0))", False, "Decimal")
        if op == "div":
            return _Value(f"trunc({left.sql} / nullif({right.sql}, 0))::BIGINT", False, "Integer")
        if op == "mod":
            return _Value(f"({left.sql} % nullif({right.sql}, 0))", False, result_type)
        return _Value(f"({left.sql} {op} {right.sql})", False, result_type)

    def _of_type(self, target: Expression | None, type_name: str, scope: _Scope) -> _Value:
        """ofType(T): a choice element ``value`` becomes ``valueT``; otherwise filter by type."""
        short = type_name.split(".")[-1]
        system = _system_type(short)
        if isinstance(target, Member):
            suffix = short[:1].upper() + short[1:]
            typed = self.expr(Member(target.target, target.name + suffix), scope)
            return _Value(typed.sql, True, system, typed.static, typed.single_json)
        base = (
            self.as_collection(self.expr(target, scope)) if target else self.focus_collection(scope)
        )
        var = self.fresh("t")
        json_types = {
            "Boolean": "('BOOLEAN')",
            "Integer": "('UBIGINT', 'BIGINT')",
            "Decimal": "('UBIGINT', 'BIGINT', 'DOUBLE')",
            "String": "('VARCHAR')",
            "Date": "('VARCHAR')",
            "DateTime": "('VARCHAR')",
            "Time": "('VARCHAR')",
        }
        if system in json_types:
            condition = f"json_type({var}) IN {json_types[system]}"
        else:  # a resource type (contained resources, Bundle entries) or a complex type
            condition = f"({var} ->> 'resourceType') = {_quote_string(short)}"
        return _Value(f"list_filter({base}, lambda {var}: {condition})", True, system)

    # ---------------------------------------------------------------------------- functions
    def _expr_FunctionCall(self, node: FunctionCall, scope: _Scope) -> _Value:
        name = node.name
        handler = getattr(self, f"_fn_{name}", None)
        if handler is None:
            raise self.fail(f"FHIRPath function {name}() is not supported")
        return handler(node, scope)

    def _input(self, node: FunctionCall, scope: _Scope) -> _Value:
        if node.target is None:
            return _Value(self.focus_collection(scope), True, None)
        return self.expr(node.target, scope)

    def _arity(self, node: FunctionCall, *allowed: int) -> None:
        if len(node.args) not in allowed:
            raise self.fail(f"{node.name}() takes {' or '.join(map(str, allowed))} argument(s)")

    def _lambda_over(
        self, base: _Value, body: Expression, scope: _Scope
    ) -> tuple[str, str, _Value]:
        var, index = self.fresh("x"), self.fresh("i")
        model = base.static.type_name if base.static else None
        inner = _Scope(focus=var, row_index=scope.row_index, index=f"({index} - 1)", model=model)
        return var, index, self.expr(body, inner)

    def _fn_where(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        base = self._input(node, scope)
        collection = self.as_collection(base)
        var, index, criterion = self._lambda_over(base, node.args[0], scope)
        condition = f"coalesce({self.as_boolean(criterion)}, false)"
        return _Value(
            f"list_filter({collection}, lambda {var}, {index}: {condition})", True, base.type
        )

    def _fn_select(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        base = self._input(node, scope)
        collection = self.as_collection(base)
        var, index, projection = self._lambda_over(base, node.args[0], scope)
        return _Value(
            f"flatten(list_transform({collection}, lambda {var}, {index}: {self.as_collection(projection)}))",
            True,
            projection.type,
        )

    def _fn_all(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        base = self._input(node, scope)
        collection = self.as_collection(base)
        var, index, criterion = self._lambda_over(base, node.args[0], scope)
        failing = f"list_filter({collection}, lambda {var}, {index}: NOT coalesce({self.as_boolean(criterion)}, false))"
        return _Value(f"(len({failing}) = 0)", False, "Boolean")

    def _fn_exists(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0, 1)
        if node.args:
            filtered = self._fn_where(FunctionCall(node.target, "where", node.args), scope)
            return _Value(f"(len({filtered.sql}) > 0)", False, "Boolean")
        base = self._input(node, scope)
        if not base.collection:
            return _Value(f"({base.sql} IS NOT NULL)", False, "Boolean")
        if base.single_json is not None:
            return _Value(f"({base.single_json} IS NOT NULL)", False, "Boolean")
        return _Value(f"(len({base.sql}) > 0)", False, "Boolean")

    def _fn_hasValue(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        return self._fn_exists(node, scope)

    def _fn_empty(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        base = self._input(node, scope)
        if not base.collection:
            return _Value(f"({base.sql} IS NULL)", False, "Boolean")
        if base.single_json is not None:
            return _Value(f"({base.single_json} IS NULL)", False, "Boolean")
        return _Value(f"(len({base.sql}) = 0)", False, "Boolean")

    def _fn_count(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        base = self._input(node, scope)
        return _Value(f"len({self.as_collection(base)})::BIGINT", False, "Integer")

    def _fn_first(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        base = self._input(node, scope)
        if not base.collection or base.single_json is not None:
            return base
        narrowed = self.narrow_static(base, 0)
        if narrowed is not None:
            return narrowed
        return _Value(
            f"list_slice({base.sql}, 1, 1)",
            True,
            base.type,
            single_json=f"list_extract({base.sql}, 1)",
        )

    def _fn_last(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        base = self._input(node, scope)
        if not base.collection:
            return base
        return _Value(f"list_slice({base.sql}, -1, -1)", True, base.type)

    def _fn_tail(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        base = self._input(node, scope)
        return _Value(f"list_slice({self.as_collection(base)}, 2, 2147483647)", True, base.type)

    def _fn_skip(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        base = self._input(node, scope)
        count = self.as_scalar(self.expr(node.args[0], scope), "Integer").sql
        return _Value(
            f"list_slice({self.as_collection(base)}, ({count}) + 1, 2147483647)", True, base.type
        )

    def _fn_take(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        base = self._input(node, scope)
        count = self.as_scalar(self.expr(node.args[0], scope), "Integer").sql
        return _Value(f"list_slice({self.as_collection(base)}, 1, {count})", True, base.type)

    def _fn_distinct(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        base = self._input(node, scope)
        return _Value(f"list_distinct({self.as_collection(base)})", True, base.type)

    def _fn_not(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        return _Value(f"(NOT {self.as_boolean(self._input(node, scope))})", False, "Boolean")

    def _fn_iif(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 2, 3)
        condition = self.as_boolean(self.expr(node.args[0], scope))
        then = self.as_collection(self.expr(node.args[1], scope))
        otherwise = (
            self.as_collection(self.expr(node.args[2], scope))
            if len(node.args) == 3
            else "[]::JSON[]"
        )
        return _Value(f"(CASE WHEN {condition} THEN {then} ELSE {otherwise} END)", True, None)

    def _fn_join(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0, 1)
        base = self.as_collection(self._input(node, scope))
        separator = (
            self.as_scalar(self.expr(node.args[0], scope), "String").sql if node.args else "''"
        )
        var = self.fresh("j")
        strings = f"list_transform({base}, lambda {var}: {var} ->> '$')"
        return _Value(
            f"list_transform([{strings}], lambda {var}s: CASE WHEN len({var}s) = 0 THEN NULL "
            f"ELSE array_to_string({var}s, {separator}) END)[1]",
            False,
            "String",
        )

    def _fn_extension(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        url = self.as_scalar(self.expr(node.args[0], scope), "String").sql
        # navigation, so the root's extensions come from the one parse of the resource
        target = None if node.target is None else self.expr(node.target, scope)
        extensions = self.navigate(target, "extension", scope)
        var = self.fresh("e")
        return _Value(
            f"list_filter({extensions.sql}, lambda {var}: ({var} ->> 'url') = {url})",
            True,
            "Extension",
        )

    def _fn_ofType(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        type_name = _type_argument(node.args[0])
        if type_name is None:
            raise self.fail("ofType() needs a type name")
        return self._of_type(node.target, type_name, scope)

    def _fn_as(self, node: FunctionCall, scope: _Scope) -> _Value:
        return self._fn_ofType(node, scope)

    def _fn_is(self, node: FunctionCall, scope: _Scope) -> _Value:
        filtered = self._fn_ofType(node, scope)
        return _Value(f"(len({filtered.sql}) > 0)", False, "Boolean")

    def _fn_getResourceKey(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        if node.target is None and scope.focus is None and not scope.null_focus:
            return self.static_value(_Static(None, "$.id", None), "String")
        base = self._input(node, scope)
        if base.single_json is not None:
            return self.static_value(_Static(base.single_json, "$.id", None), "String")
        return _Value(f"fhir_child({self.as_collection(base)}, '$.id')", True, "String")

    def _fn_getReferenceKey(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0, 1)
        wanted = "NULL"
        if node.args:
            type_name = _type_argument(node.args[0])
            if type_name is None:
                raise self.fail("getReferenceKey() takes a resource type name")
            wanted = _quote_string(type_name)
        references_value = self.navigate(self._input(node, scope), "reference", scope)
        if references_value.single_json is not None:  # one Reference: a plain scalar
            return _Value(
                f"fhir_reference_key({references_value.single_json} ->> '$', {wanted})",
                False,
                "String",
            )
        references = references_value.sql
        var = self.fresh("k")
        keys = f"list_transform({references}, lambda {var}: to_json(fhir_reference_key({var} ->> '$', {wanted})))"
        return _Value(
            f"list_filter({keys}, lambda {var}: {var} IS NOT NULL AND json_type({var}) <> 'NULL')",
            True,
            "String",
        )

    def _boundary(self, node: FunctionCall, scope: _Scope, high: bool) -> _Value:
        self._arity(node, 0, 1)
        base = self._input(node, scope)
        item = self.as_scalar(base) if base.collection else base
        kind = base.type
        flag = "true" if high else "false"
        direction = "1" if high else "-1"
        if kind == "Decimal" or (kind is None and base.collection):
            # unknown type: decide at run time from the JSON item's own shape
            json_item = (
                f"fhir_singleton({base.sql}, {self.runtime_error('expected at most one item')})"
            )
            if kind == "Decimal":
                return _Value(f"fhir_decimal_boundary({json_item}, {direction})", False, "Decimal")
            text = f"({json_item} ->> '$')"
            return _Value(
                f"CASE WHEN fhir_is_number({json_item}) THEN CAST(fhir_decimal_boundary({json_item}, {direction}) AS VARCHAR) "
                f"WHEN contains({text}, 'T') THEN fhir_datetime_boundary({text}, {flag}) "
                f"WHEN contains({text}, ':') THEN fhir_time_boundary({text}, {flag}) "
                f"ELSE fhir_date_boundary({text}, {flag}) END",
                False,
                None,
            )
        macro = {
            "Date": "fhir_date_boundary",
            "DateTime": "fhir_datetime_boundary",
            "Time": "fhir_time_boundary",
        }
        if kind in macro:
            return _Value(f"{macro[kind]}({item.sql}, {flag})", False, kind)
        if kind == "Integer":
            return _Value(f"CAST({item.sql} AS DOUBLE)", False, "Decimal")
        raise self.fail(f"{node.name}() needs a decimal, date, dateTime or time")

    def _fn_lowBoundary(self, node: FunctionCall, scope: _Scope) -> _Value:
        return self._boundary(node, scope, high=False)

    def _fn_highBoundary(self, node: FunctionCall, scope: _Scope) -> _Value:
        return self._boundary(node, scope, high=True)

    # string functions: input is a single string
    def _string_input(self, node: FunctionCall, scope: _Scope) -> str:
        return self.as_scalar(self._input(node, scope), "String").sql

    def _string_arg(self, node: FunctionCall, scope: _Scope, position: int) -> str:
        return self.as_scalar(self.expr(node.args[position], scope), "String").sql

    def _int_arg(self, node: FunctionCall, scope: _Scope, position: int) -> str:
        return self.as_scalar(self.expr(node.args[position], scope), "Integer").sql

    def _fn_startsWith(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        return _Value(
            f"starts_with({self._string_input(node, scope)}, {self._string_arg(node, scope, 0)})",
            False,
            "Boolean",
        )

    def _fn_endsWith(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        return _Value(
            f"ends_with({self._string_input(node, scope)}, {self._string_arg(node, scope, 0)})",
            False,
            "Boolean",
        )

    def _fn_contains(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        return _Value(
            f"contains({self._string_input(node, scope)}, {self._string_arg(node, scope, 0)})",
            False,
            "Boolean",
        )

    def _fn_matches(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        return _Value(
            f"regexp_matches({self._string_input(node, scope)}, {self._string_arg(node, scope, 0)})",
            False,
            "Boolean",
        )

    def _fn_upper(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        return _Value(f"upper({self._string_input(node, scope)})", False, "String")

    def _fn_lower(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        return _Value(f"lower({self._string_input(node, scope)})", False, "String")

    def _fn_trim(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        return _Value(f"trim({self._string_input(node, scope)})", False, "String")

    def _fn_length(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        return _Value(f"length({self._string_input(node, scope)})::BIGINT", False, "Integer")

    def _fn_indexOf(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1)
        return _Value(
            f"(strpos({self._string_input(node, scope)}, {self._string_arg(node, scope, 0)}) - 1)::BIGINT",
            False,
            "Integer",
        )

    def _fn_substring(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 1, 2)
        text = self._string_input(node, scope)
        start = self._int_arg(node, scope, 0)
        if len(node.args) == 2:
            return _Value(
                f"substr({text}, ({start}) + 1, {self._int_arg(node, scope, 1)})", False, "String"
            )
        return _Value(f"substr({text}, ({start}) + 1)", False, "String")

    def _fn_replace(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 2)
        return _Value(
            f"replace({self._string_input(node, scope)}, {self._string_arg(node, scope, 0)}, {self._string_arg(node, scope, 1)})",
            False,
            "String",
        )

    def _fn_toString(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        value = self._input(node, scope)
        if value.collection:
            item = self.as_scalar(value)
            sql = f"({item.sql} ->> '$')" if item.type is None else f"CAST({item.sql} AS VARCHAR)"
            return _Value(sql, False, "String")
        return _Value(f"CAST({value.sql} AS VARCHAR)", False, "String")

    def _fn_toInteger(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        text = self._fn_toString(FunctionCall(node.target, "toString"), scope).sql
        return _Value(f"TRY_CAST({text} AS BIGINT)", False, "Integer")

    def _fn_toDecimal(self, node: FunctionCall, scope: _Scope) -> _Value:
        self._arity(node, 0)
        text = self._fn_toString(FunctionCall(node.target, "toString"), scope).sql
        return _Value(f"TRY_CAST({text} AS DOUBLE)", False, "Decimal")

    # -------------------------------------------------------------------------- selections
    def column(self, column: Column, scope: _Scope) -> tuple[str, str]:
        """SQL and DuckDB type of one column evaluated on ``scope``'s focus."""
        self.element = f"{column.element}.path"
        value = self.expr(column.expression, scope)
        fhir_type = column.type or _SYSTEM_TO_FHIR.get(value.type or "", "string")
        sql_type = sql_type_for(fhir_type)
        system = _FHIR_TO_SYSTEM.get(fhir_type, "String" if sql_type == "VARCHAR" else None)
        if column.collection:
            if value.collection:
                var = self.fresh("v")
                item_sql, _ = self.json_to_sql(var, system)
                return (
                    f"list_transform({value.sql}, lambda {var}: {_cast(item_sql, sql_type)})",
                    f"{sql_type}[]",
                )
            return (
                f"CASE WHEN ({value.sql}) IS NULL THEN []::{sql_type}[] ELSE [CAST({value.sql} AS {sql_type})] END",
                f"{sql_type}[]",
            )
        if value.collection:
            if value.single_json is not None:  # the schema allows at most one item
                item = value.single_json
            else:
                message = self.runtime_error(
                    f"column {column.name!r} got more than one value (collection is false)"
                )
                item = f"fhir_singleton({value.sql}, {message})"
            item_sql, _ = self.json_to_sql(item, system)
            return _cast(item_sql, sql_type), sql_type
        if _SYSTEM_SQL.get(value.type or "", "VARCHAR") == sql_type:
            return value.sql, sql_type
        return f"CAST({value.sql} AS {sql_type})", sql_type

    def columns(self, columns: tuple[Column, ...], scope: _Scope) -> _Rows:
        sqls, types = [], []
        for column in columns:
            sql, sql_type = self.column(column, scope)
            sqls.append(sql)
            types.append(sql_type)
        return _Rows([c.name for c in columns], types, single=sqls)

    def cross(self, left: _Rows, right: _Rows) -> _Rows:
        names, types = left.names + right.names, left.types + right.types
        if left.single is not None and right.single is not None:
            return _Rows(names, types, single=left.single + right.single)
        var = self.fresh("row")
        if left.single is not None:
            fields = left.single + [f"{var}.{_quote_ident(n)}" for n in right.names]
            return _Rows(
                names,
                types,
                rows=f"list_transform({right.as_list()}, lambda {var}: {_struct(names, fields)})",
            )
        if right.single is not None:
            fields = [f"{var}.{_quote_ident(n)}" for n in left.names] + right.single
            return _Rows(
                names,
                types,
                rows=f"list_transform({left.as_list()}, lambda {var}: {_struct(names, fields)})",
            )
        other = self.fresh("row")
        fields = [f"{var}.{_quote_ident(n)}" for n in left.names] + [
            f"{other}.{_quote_ident(n)}" for n in right.names
        ]
        inner = f"list_transform({right.as_list()}, lambda {other}: {_struct(names, fields)})"
        return _Rows(
            names, types, rows=f"flatten(list_transform({left.as_list()}, lambda {var}: {inner}))"
        )

    def body(self, node: SelectNode, scope: _Scope) -> _Rows:
        """Rows of a select node for one focus, ignoring its own iteration."""
        parts: list[_Rows] = []
        if node.columns:
            parts.append(self.columns(node.columns, scope))
        parts.extend(self.node(child, scope) for child in node.selects)
        if node.union_all:
            parts.append(self.union(node, scope))
        result = parts[0]
        for part in parts[1:]:
            result = self.cross(result, part)
        return result

    def union(self, node: SelectNode, scope: _Scope) -> _Rows:
        branches = [self.node(branch, scope) for branch in node.union_all]
        names, types = branches[0].names, branches[0].types
        lists = []
        for branch in branches:
            if branch.types != types:  # align types so the struct lists concatenate
                var = self.fresh("row")
                fields = [
                    f"CAST({var}.{_quote_ident(n)} AS {t})"
                    for n, t in zip(names, types, strict=True)
                ]
                lists.append(
                    f"list_transform({branch.as_list()}, lambda {var}: {_struct(names, fields)})"
                )
            else:
                lists.append(branch.as_list())
        return _Rows(list(names), list(types), rows="flatten([" + ", ".join(lists) + "])")

    def iteration(self, node: SelectNode, scope: _Scope) -> tuple[str, str | None]:
        """The JSON[] collection a forEach/forEachOrNull/repeat iterates over, and its item type."""
        kind = (
            "forEach"
            if node.for_each is not None
            else "forEachOrNull"
            if node.for_each_or_null is not None
            else "repeat"
        )
        self.element = f"{node.element}.{kind}"
        if node.repeat:
            return self.repeat(node, scope), None
        expression = node.for_each if node.for_each is not None else node.for_each_or_null
        assert expression is not None
        value = self.expr(expression, scope)
        return self.as_collection(value), value.static.type_name if value.static else None

    def repeat(self, node: SelectNode, scope: _Scope) -> str:
        """All descendants reached by following the repeat paths, in depth-first document order.

        Breadth-wise expansion with ``list_reduce``; each item keeps a sort key (path index, item
        index per level) so sorting the keys yields the pre-order the specification describes.
        """
        state, level, parent = self.fresh("state"), self.fresh("level"), self.fresh("parent")
        children = []
        for position, path in enumerate(node.repeat):
            self.element = f"{node.element}.repeat[{position}]"
            child = self.as_collection(
                self.expr(path, _Scope(focus=f"{parent}.node", row_index=scope.row_index))
            )
            item, index = self.fresh("c"), self.fresh("n")
            children.append(
                f"list_transform({child}, lambda {item}, {index}: "
                f"{{'key': {parent}.key || [{position}::BIGINT, {index}], 'node': {item}}})"
            )
        expand = f"flatten(list_transform({state}.frontier, lambda {parent}: flatten([{', '.join(children)}])))"
        start = f"{{'frontier': [{{'key': []::BIGINT[], 'node': {self.focus_json(scope)}}}], 'found': []::STRUCT(key BIGINT[], node JSON)[]}}"
        reduced = (
            f"list_reduce(range({REPEAT_MAX_DEPTH}), lambda {state}, {level}: "
            f"{{'frontier': {expand}, 'found': {state}.found || {state}.frontier}}, {start})"
        )
        done, found = self.fresh("done"), self.fresh("found")
        self.element = f"{node.element}.repeat"
        too_deep = self.runtime_error(f"nesting deeper than {REPEAT_MAX_DEPTH} levels")
        return (
            f"list_transform([{reduced}], lambda {done}: CASE WHEN len({done}.frontier) > 0 THEN error({too_deep}) "
            f"ELSE list_transform(list_slice(list_sort({done}.found), 2, 2147483647), lambda {found}: {found}.node) END)[1]"
        )

    def node(self, node: SelectNode, scope: _Scope) -> _Rows:
        if node.for_each is None and node.for_each_or_null is None and not node.repeat:
            return self.body(node, scope)
        collection, model = self.iteration(node, scope)
        var, index = self.fresh("x"), self.fresh("i")
        body = self.body(node, _Scope(focus=var, row_index=f"({index} - 1)", model=model))

        def rows_over(items: str) -> str:
            return f"flatten(list_transform({items}, lambda {var}, {index}: {body.as_list()}))"

        if node.for_each_or_null is None:
            return _Rows(body.names, body.types, rows=rows_over(collection))
        # forEachOrNull: an empty collection still yields one row: the node's own columns on an
        # empty focus (literals and %rowIndex keep their value), every nested column NULL
        own = (
            self.columns(node.columns, _Scope(focus=None, row_index="0", null_focus=True)).single
            if node.columns
            else []
        )
        assert own is not None
        nested = [f"NULL::{sql_type}" for sql_type in body.types[len(own) :]]
        empty_row = f"[{_struct(body.names, own + nested)}]"
        items = self.fresh("items")
        return _Rows(
            body.names,
            body.types,
            rows=f"list_transform([{collection}], lambda {items}: CASE WHEN len({items}) = 0 THEN {empty_row} "
            f"ELSE {rows_over(items)} END)[1]",
        )


_FHIRPATH_SCALARS = {"Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time"}


def _cast(sql: str, sql_type: str) -> str:
    """CAST unless ``sql`` is already a conversion to that type (json_to_sql output)."""
    if sql_type == "VARCHAR" and sql.endswith("->> '$')"):
        return sql
    if sql.startswith("CAST(") and sql.endswith(f" AS {sql_type})"):
        return sql
    return f"CAST({sql} AS {sql_type})"


def _type_argument(argument: Expression) -> str | None:
    """The type name given as a function argument (``ofType(Quantity)``, ``ofType(FHIR.string)``)."""
    if isinstance(argument, Member):
        parts = []
        node: Expression | None = argument
        while isinstance(node, Member):
            parts.append(node.name)
            node = node.target
        if node is None:
            return ".".join(reversed(parts))
    return None


def compile_view(view: ViewDefinition, schema: FHIRSchema | None = R4B) -> CompiledView:
    """Compile a validated ViewDefinition to DuckDB SQL.

    Args:
        view: the ViewDefinition (from ``load_view``/``parse_view``).
        schema: FHIR element cardinalities used to emit direct JSON paths (default R4B, the
            version the pipeline validates against). None compiles generic navigation only,
            correct for JSON of any FHIR version.

    Returns:
        The compiled view: SQL template, output columns with types and tags.

    Raises:
        ViewDefinitionError: the view uses FHIRPath the compiler cannot translate.
    """
    compiler = _Compiler(view, schema)
    root = _Scope(
        focus=None, model=view.resource if schema and schema.knows(view.resource) else None
    )
    parts = [compiler.node(node, root) for node in view.select]

    where_sql = []
    for i, (_text, expression) in enumerate(view.where):
        compiler.element = f"where[{i}].path"
        value = compiler.expr(expression, root)
        if not value.collection:
            if value.type not in (None, "Boolean"):
                raise ViewDefinitionError(
                    compiler.element, f"must give a boolean, not {value.type}"
                )
            where_sql.append(f"coalesce({value.sql}, false)")
        else:
            message = compiler.runtime_error("where path must give a single boolean")
            where_sql.append(f"coalesce(fhir_strict_boolean({value.sql}, {message}), false)")

    select_items: list[str] = []
    joins: list[str] = []
    columns: list[CompiledColumn] = []
    column_defs = {c.name: c for c in view.columns}
    for part in parts:
        if part.single is not None:
            expressions = part.single
        else:
            alias, row = compiler.fresh("u"), compiler.fresh("unnested")
            joins.append(f"CROSS JOIN unnest({part.rows}) AS {alias}({row})")
            expressions = [f"{row}.{_quote_ident(n)}" for n in part.names]
        for name, sql_type, sql in zip(part.names, part.types, expressions, strict=True):
            select_items.append(f"    {sql} AS {_quote_ident(name)}")
            columns.append(CompiledColumn(name, sql_type, column_defs[name]))

    # Navigation registers every prefix of a path; keep the fields the query reads, renumbered.
    body = "\n".join(select_items + joins + where_sql)
    used = [
        (path, alias) for path, alias in compiler.root_fields.items() if _quote_ident(alias) in body
    ]
    renames = {
        _quote_ident(alias): _quote_ident(f"f{n}_" + alias.split("_", 1)[1])
        for n, (_p, alias) in enumerate(used, 1)
    }
    fields = [(path, renames[_quote_ident(alias)][1:-1]) for path, alias in used]

    def renamed(text: str) -> str:  # one pass, so a new name can never be renamed again
        if not renames:
            return text
        return re.sub("|".join(map(re.escape, renames)), lambda m: renames[m.group()], text)

    select_items = [renamed(item) for item in select_items]
    joins = [renamed(join) for join in joins]
    where_sql = [renamed(clause) for clause in where_sql]
    paths = ", ".join(["'$.resourceType'"] + [f"'{path}'" for path, _alias in fields])
    field_columns = "".join(
        f", _e[{i}] AS {_quote_ident(alias)}" for i, (_n, alias) in enumerate(fields, start=2)
    )
    where_clause = "\n      AND ".join(where_sql) if where_sql else "true"
    return CompiledView(
        view=view,
        columns=tuple(columns),
        _paths=paths,
        _field_columns=field_columns,
        _where=where_clause,
        _select_items=tuple(select_items),
        _joins=tuple(joins),
    )
