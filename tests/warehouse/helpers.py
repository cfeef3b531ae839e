"""Shared helpers of the warehouse tests: batches with the real columns, table contents."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

from warehouse import CoreTable

ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}
FILE_A = "a" * 64
FILE_B = "b" * 64


def make_batch(table: CoreTable, rows: list[Mapping[str, object]]) -> pa.Table:
    """An Arrow batch with exactly the table's columns and source lineage.

    Columns a row leaves out are NULL; lineage defaults to file A, line = row number.
    """
    types = {column.name: ARROW_TYPES[column.sql_type] for column in table.columns}
    types.update({"_source_file_hash": pa.string(), "_source_line": pa.int64()})
    full_rows = [
        {"_source_file_hash": FILE_A, "_source_line": number, **row}
        for number, row in enumerate(rows, start=1)
    ]
    return pa.table(
        {
            name: pa.array([row.get(name) for row in full_rows], type_)
            for name, type_ in types.items()
        }
    )


def table_rows(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    """Every row of ``core.<name>``, lineage included, in a fixed order."""
    return con.execute(f"SELECT * FROM core.{name} ORDER BY ALL").fetchall()


def all_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every core table and the schema versions, for before/after comparisons."""
    names = [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'core' ORDER BY 1"
        ).fetchall()
    ]
    state = {name: table_rows(con, name) for name in names}
    state["audit.schema_version"] = con.execute(
        "SELECT * FROM audit.schema_version ORDER BY ALL"
    ).fetchall()
    return state
