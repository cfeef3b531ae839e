"""Fixtures of the data-quality check tests: a warehouse holding a small, clean chart."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from expectations.checks import Check, load_catalogue
from warehouse import open_warehouse

from .helpers import insert_clean_chart


@pytest.fixture(scope="session")
def catalogue() -> list[Check]:
    """The project's check catalogue."""
    return load_catalogue()


@pytest.fixture(scope="session")
def clean_template(tmp_path_factory) -> Path:
    """A warehouse file holding the clean chart, built once; tests work on copies."""
    path = tmp_path_factory.mktemp("template") / "w.duckdb"
    with open_warehouse(path) as con:
        insert_clean_chart(con)
    return path


@pytest.fixture
def clean_warehouse(tmp_path, clean_template) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to this test's own copy of the clean warehouse."""
    path = tmp_path / "w.duckdb"
    shutil.copyfile(clean_template, path)
    with open_warehouse(path) as con:
        yield con


@pytest.fixture
def empty_warehouse(tmp_path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to a new warehouse with empty tables."""
    with open_warehouse(tmp_path / "w.duckdb") as con:
        yield con


@pytest.fixture
def run_date() -> dt.date:
    """The run date the future-date checks compare with."""
    return dt.date(2025, 1, 1)
