"""Warehouse fixtures: a fresh warehouse file per test and hand-built batches with real columns."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from warehouse import CoreTable, core_tables, open_warehouse


@pytest.fixture(scope="session")
def definitions() -> dict[str, CoreTable]:
    """The core tables from the project's views."""
    return core_tables()


@pytest.fixture(scope="session")
def empty_warehouse(tmp_path_factory, definitions) -> Path:
    """A new warehouse file, created once; tests work on copies."""
    path = tmp_path_factory.mktemp("template") / "warehouse.duckdb"
    with open_warehouse(path, definitions=definitions):
        pass
    return path


@pytest.fixture
def warehouse_path(tmp_path, empty_warehouse) -> Path:
    """This test's own copy of a new warehouse file."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(empty_warehouse, path)
    return path


@pytest.fixture
def writer(warehouse_path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The read-write connection to this test's warehouse."""
    with open_warehouse(warehouse_path) as con:
        yield con
