"""SQL-on-FHIR v2 engine: ViewDefinitions compiled to DuckDB SQL over JSON resources."""

from .compiler import CompiledColumn, CompiledView, compile_view, sql_type_for
from .engine import (
    ViewExecutionError,
    install_macros,
    load_resources,
    materialize_view,
    ndjson_source,
    run_view,
    run_view_arrow,
)
from .fhirpath import FHIRPathSyntaxError, parse
from .viewdef import Column, ViewDefinition, ViewDefinitionError, load_view, parse_view

__all__ = [
    "Column",
    "CompiledColumn",
    "CompiledView",
    "FHIRPathSyntaxError",
    "ViewDefinition",
    "ViewDefinitionError",
    "ViewExecutionError",
    "compile_view",
    "install_macros",
    "load_resources",
    "load_view",
    "materialize_view",
    "ndjson_source",
    "parse",
    "parse_view",
    "run_view",
    "run_view_arrow",
    "sql_type_for",
]
