"""Helpers of the de-identification tests: keys, a PHI-zone staging connection, leak scans."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping

import duckdb
import pyarrow as pa

from transforms.deid.apply import (
    DeidContext,
    TableDeidCounts,
    build_patient_index,
    flatten_and_deidentify,
    register_functions,
)
from transforms.deid.keys import DeidKeys
from transforms.sql_on_fhir import CompiledView, install_macros

MASTER_KEY = bytes(range(32))
OTHER_MASTER_KEY = bytes(range(100, 132))
RUN_DATE = dt.date(2026, 3, 1)
HEX32 = r"^[0-9a-f]{32}$"


def sub_key(master: bytes, purpose: str) -> bytes:
    """``K_p = HMAC-SHA256(K, "deid/v1/" + purpose)``, computed independently of keys.py."""
    return hmac.new(master, f"deid/v1/{purpose}".encode(), hashlib.sha256).digest()


def keyed(key: bytes, message: str) -> str:
    """``hex(HMAC-SHA256(key, message))``, computed independently of keys.py."""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def staging_connection(context: DeidContext) -> duckdb.DuckDBPyConnection:
    """An in-memory connection set up as ``flows.nightly.flatten_task`` does."""
    con = duckdb.connect()
    install_macros(con)
    register_functions(con, context)
    con.execute(
        "CREATE TEMP TABLE staged (resource JSON, resource_type VARCHAR, "
        "_source_file_hash VARCHAR, _source_line BIGINT)"
    )
    return con


def stage(con: duckdb.DuckDBPyConnection, resources: Iterable[dict], file_hash: str) -> None:
    """Append resources to ``staged`` the way flatten_task inserts a StagedFile's Arrow table."""
    resources = list(resources)
    batch = pa.table(
        {
            "resource": pa.array([json.dumps(r) for r in resources], pa.string()),
            "resource_type": pa.array([r["resourceType"] for r in resources], pa.string()),
            "_source_file_hash": pa.array([file_hash] * len(resources), pa.string()),
            "_source_line": pa.array(range(1, len(resources) + 1), pa.int64()),
        }
    )
    con.register("_staged_batch", batch)
    con.execute(
        "INSERT INTO staged SELECT CAST(resource AS JSON), resource_type, _source_file_hash, "
        "_source_line FROM _staged_batch"
    )
    con.unregister("_staged_batch")


def run_deid(
    context: DeidContext,
    resources: Iterable[dict],
    views: Mapping[str, CompiledView],
    previous: pa.Table | None = None,
    file_hash: str = "f" * 64,
) -> tuple[dict[str, pa.Table], dict[str, TableDeidCounts], pa.Table]:
    """One flatten-and-deidentify run over ``resources``: tables, counts and the patient index."""
    con = staging_connection(context)
    try:
        stage(con, resources, file_hash)
        index = build_patient_index(con, "staged", context, previous)
        tables, counts = flatten_and_deidentify(con, "staged", views, index, context)
        return tables, counts, index.table()
    finally:
        con.close()


def keys_for(master: bytes = MASTER_KEY) -> DeidKeys:
    return DeidKeys.from_master(master)


def leak_hits(tables: Mapping[str, pa.Table], needles: Iterable[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every needle found, case-insensitively, in any VARCHAR column.

    The scan runs in DuckDB SQL over the Arrow tables, so it sees the stored values rather than
    a Python rendering of them.
    """
    needles = sorted(set(needles))
    hits: list[tuple[str, str, str]] = []
    with duckdb.connect() as con:
        con.register("_needles", pa.table({"needle": pa.array(needles, pa.string())}))
        for name, table in tables.items():
            con.register("_scanned", table)
            described = con.sql("DESCRIBE SELECT * FROM _scanned").fetchall()
            for column, column_type, *_ in described:
                if column_type != "VARCHAR":
                    continue
                quoted = '"' + column.replace('"', '""') + '"'
                rows = con.sql(
                    f"SELECT DISTINCT n.needle FROM _scanned AS t, _needles AS n "
                    f"WHERE contains(lower(t.{quoted}), lower(n.needle))"
                ).fetchall()
                hits.extend((name, column, needle) for (needle,) in rows)
            con.unregister("_scanned")
    return sorted(hits)
