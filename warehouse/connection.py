"""Opening the warehouse file: the single writer (schema created or checked) and readers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb

from .errors import WarehouseBusyError
from .schema import CoreTable, core_tables, ensure_schema

# DuckDB's message when another process holds the file lock. The rest of its text names that
# process's executable, PID and user: never passed on.
_LOCK_MESSAGE = "Could not set lock on file"


@contextmanager
def open_warehouse(
    path: Path,
    *,
    full_refresh: bool = False,
    definitions: Mapping[str, CoreTable] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for writing; a new file gets every schema and table.

    DuckDB allows one writing process per file; while it is open, other processes can open it
    neither for writing nor for reading (analysts use the snapshot). Connections in the same
    process share one database instance and do not lock each other out.

    Args:
        path: the warehouse file (created with its folder when missing).
        full_refresh: the run rebuilds the core tables, so core tables built from older views are
            accepted here (the full-refresh load replaces them).
        definitions: the core tables by name (default: from ``transforms/views``).

    Raises:
        WarehouseBusyError: another process holds the file.
        SchemaVersionError: the tables do not match the current definitions (see ensure_schema).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only=False)
    try:
        ensure_schema(
            con, core_tables() if definitions is None else definitions, full_refresh=full_refresh
        )
        yield con
    finally:
        con.close()


@contextmanager
def open_read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (or a snapshot) read-only; several readers may share the file.

    Args:
        path: an existing warehouse or snapshot file.

    Raises:
        FileNotFoundError: no such file.
        WarehouseBusyError: a writing process holds the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no warehouse file at {path}")
    con = _connect(path, read_only=True)
    try:
        yield con
    finally:
        con.close()


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if _LOCK_MESSAGE in str(exc):
            raise WarehouseBusyError(path) from None
        raise
    except duckdb.ConnectionException as exc:
        # Same process, same file, other access mode: DuckDB refuses a second configuration.
        if "different configuration" in str(exc):
            raise WarehouseBusyError(path, same_process=True) from None
        raise
