"""Run compiled views in DuckDB: macros, resource relations and PHI-safe error handling."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from importlib import resources as package_files
from pathlib import Path

import duckdb
import pyarrow as pa

from .compiler import ERROR_MARKER, CompiledView, compile_view
from .viewdef import ViewDefinition

__all__ = [
    "ViewExecutionError",
    "install_macros",
    "load_resources",
    "macros_sql",
    "materialize_view",
    "ndjson_source",
    "run_view",
    "run_view_arrow",
    "sanitized_error",
]

_MACROS = package_files.files(__package__).joinpath("macros.sql").read_text(encoding="utf-8")


class ViewExecutionError(RuntimeError):
    """A view failed while it ran over resources.

    The message names the view element and the failure class only: DuckDB's own message can
    quote the data that failed to convert, so it is never passed on (nor chained).
    """


def macros_sql() -> str:
    """The SQL that defines the ``fhir_*`` macros (to run printed view SQL elsewhere)."""
    return _MACROS


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define the ``fhir_*`` macros that compiled views call (temporary, per connection)."""
    con.execute(_MACROS)


def load_resources(con: duckdb.DuckDBPyConnection, resources: Iterable[dict], table: str) -> None:
    """Create (or replace) a temporary table ``table(resource JSON)`` from Python dicts.

    Args:
        con: the DuckDB connection.
        resources: FHIR resources as decoded JSON.
        table: name of the temporary table to create.
    """
    texts = pa.table({"resource": pa.array([json.dumps(r) for r in resources], type=pa.string())})
    con.register("_chartetl_resource_texts", texts)
    try:
        con.execute(
            f'CREATE OR REPLACE TEMP TABLE "{table}" AS '
            "SELECT CAST(resource AS JSON) AS resource FROM _chartetl_resource_texts"
        )
    finally:
        con.unregister("_chartetl_resource_texts")


def ndjson_source(paths: Sequence[str | Path]) -> str:
    """A relation over NDJSON files (``.ndjson`` or ``.ndjson.gz``), one resource per line."""
    quoted = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    return f"(SELECT json AS resource FROM read_ndjson_objects([{quoted}]))"


def _compiled(view: ViewDefinition | CompiledView) -> CompiledView:
    return view if isinstance(view, CompiledView) else compile_view(view)


def sanitized_error(exc: duckdb.Error, view_name: str) -> ViewExecutionError:
    """A value-free ViewExecutionError for a DuckDB error raised while running a view's SQL.

    Args:
        exc: the DuckDB error; its text is kept only when it is one of our own error() calls.
        view_name: the view, for the message.
    """
    text = str(exc)
    if ERROR_MARKER in text:
        # our own error(): the text after the marker is configuration only
        detail = text.split(ERROR_MARKER, 1)[1].strip().splitlines()[0]
        return ViewExecutionError(f"view {view_name!r}: {detail}")
    return ViewExecutionError(
        f"view {view_name!r}: DuckDB {type(exc).__name__} while evaluating the view "
        "(the database message is withheld because it can quote resource values)"
    )


def _sanitized(exc: duckdb.Error, compiled: CompiledView) -> ViewExecutionError:
    return sanitized_error(exc, compiled.view.name or compiled.view.resource)


def run_view_arrow(
    con: duckdb.DuckDBPyConnection, view: ViewDefinition | CompiledView, source: str
) -> pa.Table:
    """Run a view over ``source`` and return its rows as an Arrow table.

    Args:
        con: a DuckDB connection with the macros installed (``install_macros``).
        view: a ViewDefinition or an already compiled view.
        source: a table name or ``(subquery)`` with a ``resource`` JSON column.

    Raises:
        ViewExecutionError: the query failed on the data (message without values).
    """
    compiled = _compiled(view)
    try:
        return con.sql(compiled.sql(source)).to_arrow_table()
    except duckdb.Error as exc:
        raise _sanitized(exc, compiled) from None


def run_view(
    con: duckdb.DuckDBPyConnection, view: ViewDefinition | CompiledView, source: str
) -> list[dict]:
    """Run a view and return its rows as dicts (column order kept)."""
    return run_view_arrow(con, view, source).to_pylist()


def materialize_view(
    con: duckdb.DuckDBPyConnection, view: ViewDefinition | CompiledView, source: str, table: str
) -> int:
    """Create or replace ``table`` with a view's rows; returns the row count."""
    compiled = _compiled(view)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {compiled.sql(source)}")
        return con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    except duckdb.Error as exc:
        raise _sanitized(exc, compiled) from None
