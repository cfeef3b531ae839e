"""Structural validation of FHIR R4 resources with the fhir.resources R4B models, without values."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from transforms.sources.ndjson_source import NOT_AN_OBJECT, resource_shape_error
from transforms.sources.records import SourceRecord

__all__ = [
    "UNKNOWN_ELEMENT",
    "UNKNOWN_RESOURCE_TYPE",
    "StructuralIssue",
    "is_resource_type",
    "quarantine_row",
    "validate_many",
    "validate_resource",
]

UNKNOWN_RESOURCE_TYPE = "UnknownResourceType"
# Stands in for an element name the model does not define: that name is input, not schema, so
# (failing closed) it is never echoed.
UNKNOWN_ELEMENT = "<unknown>"

# pydantic's error types for an input key the model does not define.
_EXTRA_KEY_ERRORS = frozenset({"extra_forbidden"})
# The R4 elements that hold resources (contained, Bundle.entry.resource and .response.outcome,
# Parameters.parameter[.part].resource) and the elements on the way to them.
_NESTED_RESOURCE_PATH = frozenset(
    {"contained", "entry", "resource", "response", "outcome", "parameter", "part"}
)
# fhir.resources wraps some errors in a synthetic "root" location that is no FHIR element.
_SYNTHETIC_LOCATIONS = frozenset({"root"})


@dataclass(frozen=True)
class StructuralIssue:
    """Why a resource failed structural validation: type, error class and element, no values.

    Attributes:
        resource_type: the resource's type; None when it is not an R4B resource type (the
            unknown name is input and is withheld).
        error_class: ``ValidationError:<pydantic error type>`` (e.g. ``ValidationError:missing``),
            ``UnknownResourceType``, ``MissingResourceType`` or ``NotAnObject``; for a failure
            outside pydantic, the exception's class name.
        element: FHIR element path of the first error (``Encounter.status``,
            ``Patient.contained[0].code``); the resource type alone for a resource-level error.
        error_count: how many errors pydantic reported.
    """

    resource_type: str | None
    error_class: str
    element: str
    error_count: int


@lru_cache(maxsize=1024)  # bounded: the names looked up come from the input
def _resource_model(resource_type: str) -> type[Resource] | None:
    try:
        model = get_fhir_model_class(resource_type)
    except (ValueError, KeyError):
        return None
    # get_fhir_model_class also returns data types (Quantity, Element): not resources.
    return model if issubclass(model, Resource) else None


def is_resource_type(name: str) -> bool:
    """True when ``name`` is an FHIR R4 (R4B models) resource type.

    Args:
        name: a candidate resource type, e.g. ``Patient``.
    """
    return isinstance(name, str) and _resource_model(name) is not None


def _element_path(resource_type: str, location: tuple, error_type: str) -> str:
    """FHIR element path from a pydantic error location (aliases are the JSON element names)."""
    path = resource_type
    last = len(location) - 1
    for position, part in enumerate(location):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _SYNTHETIC_LOCATIONS:
            continue
        elif position == last and error_type in _EXTRA_KEY_ERRORS:
            path += "." + UNKNOWN_ELEMENT
        else:
            path += "." + part
    return path


def _unknown_nested_resource_type(resource: dict, resource_type: str) -> str | None:
    """Path of the first nested ``resourceType`` that is not an R4B resource type, if any.

    fhir.resources raises KeyError (whose text quotes the type) instead of a ValidationError
    for such a contained or entry resource; this finds where it is without echoing it. Only the
    elements that lead to nested resources are followed, so the path holds no input key.
    """
    stack: list[tuple[object, str]] = [(resource, resource_type)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            if node is not resource and "resourceType" in node:
                nested_type = node["resourceType"]
                if not (isinstance(nested_type, str) and is_resource_type(nested_type)):
                    return path + ".resourceType"
            children = [(v, f"{path}.{k}") for k, v in node.items() if k in _NESTED_RESOURCE_PATH]
            # Reversed so that the stack pops in document order and the first one is found.
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in reversed(list(enumerate(node))))
    return None


def validate_resource(resource: dict) -> StructuralIssue | None:
    """Validate one resource against its R4B model; None when it is structurally valid.

    The issue names the element path and error class only: pydantic's messages quote input
    values, so they are never read into it. The resource is not modified.

    Args:
        resource: a FHIR resource as decoded JSON.
    """
    shape_error = resource_shape_error(resource)
    if shape_error is not None:
        element = "resource" if shape_error == NOT_AN_OBJECT else "resourceType"
        return StructuralIssue(None, shape_error, element, 1)
    resource_type = resource["resourceType"]
    model = _resource_model(resource_type)
    if model is None:
        return StructuralIssue(None, UNKNOWN_RESOURCE_TYPE, "resourceType", 1)
    try:
        # Calling the model is a few percent faster than model_validate (one wrapper less) and
        # runs the same validators: fhir.resources routes model_validate through __init__.
        model(**resource)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        # fhir.resources prefixes some types ("model_field_validation.missing"): keep the kind.
        error_type = first["type"].rsplit(".", 1)[-1]
        element = _element_path(resource_type, first["loc"], error_type)
        return StructuralIssue(
            resource_type, f"ValidationError:{error_type}", element, exc.error_count()
        )
    except Exception as exc:  # any other failure is an issue too; its text is withheld
        nested = _unknown_nested_resource_type(resource, resource_type)
        if nested is not None:
            return StructuralIssue(resource_type, UNKNOWN_RESOURCE_TYPE, nested, 1)
        return StructuralIssue(resource_type, type(exc).__name__, resource_type, 1)
    return None


def validate_many(resources: Iterable[dict]) -> list[StructuralIssue | None]:
    """Validate resources one by one; the result lines up with the input (None = valid).

    Args:
        resources: FHIR resources as decoded JSON.
    """
    return [validate_resource(resource) for resource in resources]


def quarantine_row(
    record_or_issue: SourceRecord | StructuralIssue,
    file_sha256: str,
    line: int,
    id_hasher: Callable[[str, str], str],
    resource: dict | None = None,
) -> dict:
    """The ``audit.quarantine`` row for an undecodable record or an invalid resource.

    The row holds no value from the input: the resource id enters only through ``id_hasher``.

    Args:
        record_or_issue: an error SourceRecord (``resource`` None) or the StructuralIssue of a
            resource that failed validation.
        file_sha256: SHA-256 (hex) of the input file.
        line: the record's line, entry or row number in that file.
        id_hasher: ``id_hasher(resource_type, raw_id)`` -> keyed hash, supplied by the
            de-identification module.
        resource: for an issue, the resource that failed, to hash its id; without it (or when
            its type or id is not usable) ``id_hash`` is None.

    Raises:
        ValueError: a SourceRecord that carries a resource (it is not an error record).
    """
    if isinstance(record_or_issue, SourceRecord):
        if record_or_issue.resource is not None:
            raise ValueError("quarantine_row needs an error record or a StructuralIssue")
        resource_type = None
        error_class = record_or_issue.error
        element = record_or_issue.element
    else:
        resource_type = record_or_issue.resource_type
        error_class = record_or_issue.error_class
        element = record_or_issue.element
    raw_id = resource.get("id") if isinstance(resource, dict) else None
    id_hash = (
        id_hasher(resource_type, raw_id)
        if resource_type is not None and isinstance(raw_id, str)
        else None
    )
    return {
        "file_sha256": file_sha256,
        "line": line,
        "resource_type": resource_type,
        "id_hash": id_hash,
        "error_class": error_class,
        "element": element,
    }
