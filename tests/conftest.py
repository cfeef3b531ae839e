"""Shared fixtures: paths to ../shared (the pinned suite and the 10-patient sample)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import flows  # noqa: F401 - sets chartetl's Prefect defaults (analytics off) before Prefect loads
from transforms.sql_on_fhir import install_macros

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
SOF_SUITE = SHARED / "fixtures" / "sql-on-fhir-v2"
SAMPLE_EXPORT = SHARED / "fixtures" / "smart-bulk-10-patients"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the fhir_* macros installed."""
    connection = duckdb.connect()
    install_macros(connection)
    yield connection
    connection.close()
