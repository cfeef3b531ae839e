"""FHIR element cardinalities and types, read from the ``fhir.resources`` R4B models.

The compiler uses them to turn navigation chains into direct JSON paths (``$.period.start``,
``$.name[*].given[*]``) instead of generic list flattening: the same result on valid R4 data, at
close to DuckDB's own JSON scan speed. Elements the models do not know (extensions of the
specification, other FHIR versions) make the compiler fall back to the generic path, which is
correct for any JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

__all__ = ["R4B", "Element", "FHIRSchema"]

_COMPLEX = re.compile(r"abc\.(\w+)Type\b")


@dataclass(frozen=True)
class Element:
    """One element of a FHIR type."""

    name: str
    multiple: bool  # max cardinality > 1: the JSON holds an array
    type_name: str | None  # complex type / backbone model name; None for primitives


class FHIRSchema:
    """Element lookup over a ``fhir.resources`` version package (for example ``R4B``)."""

    def __init__(self, version: str = "R4B"):
        self.version = version

    @cache  # noqa: B019 - one schema object per FHIR version, kept for the process
    def _model(self, type_name: str):
        if not type_name or not type_name[0].isupper():
            return None
        module = __import__(f"fhir.resources.{self.version}", fromlist=["get_fhir_model_class"])
        try:
            return module.get_fhir_model_class(type_name)
        except (KeyError, ValueError, ImportError, AttributeError):
            return None

    def knows(self, type_name: str) -> bool:
        """True when ``type_name`` is a resource or data type of this FHIR version."""
        return self._model(type_name) is not None

    @cache  # noqa: B019
    def _fields_by_json_name(self, type_name: str) -> dict:
        """Model fields keyed by their JSON name ('class', not the Python name 'class_fhir')."""
        model = self._model(type_name)
        return {(field.alias or name): field for name, field in model.model_fields.items()}

    @cache  # noqa: B019
    def element(self, type_name: str, element_name: str) -> Element | None:
        """The element ``element_name`` of ``type_name``, or None when unknown."""
        model = self._model(type_name)
        if model is None:
            return None
        field = self._fields_by_json_name(type_name).get(element_name)
        if field is None or element_name.endswith("__ext") or element_name == "fhir_comments":
            return None
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if not extra.get("element_property"):
            return None
        annotation = str(field.annotation)
        multiple = "List[" in annotation or "list[" in annotation
        complex_match = _COMPLEX.search(annotation)
        child_type = complex_match.group(1) if complex_match else None
        if child_type == "Resource" or (child_type and not self.knows(child_type)):
            child_type = None
        return Element(element_name, multiple, child_type)


R4B = FHIRSchema("R4B")
