"""The analysts' read-only snapshot: a verified copy of the warehouse file, renamed atomically."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

import duckdb

from .connection import open_read_only
from .errors import SnapshotError
from .schema import CORE_SCHEMA, CoreTable, core_tables

_READ_ONLY_MODE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def publish_snapshot(
    warehouse_path: Path,
    snapshot_path: Path,
    *,
    definitions: Mapping[str, CoreTable] | None = None,
) -> Path:
    """Copy the warehouse beside the snapshot, verify the copy, then rename it over the snapshot.

    Call it only after a successful load, with the writer's connection closed. Readers of the
    old snapshot are never disturbed: the rename swaps the directory entry, and their open
    connections keep reading the old file until they reconnect. The published file is
    read-only (mode 0444): analysts open it with ``read_only=True`` and can never lock it.

    Args:
        warehouse_path: the warehouse file, not open for writing anywhere.
        snapshot_path: where analysts find the snapshot.
        definitions: the core tables the copy must hold (default: from ``transforms/views``).

    Returns:
        ``snapshot_path``.

    Raises:
        SnapshotError: a write-ahead log beside the warehouse (the load did not end with a
            CHECKPOINT, or a writer is still open), a copy that does not open read-only or
            lacks a core table, or a warehouse whose latest run failed. The old snapshot stays.
        WarehouseBusyError: another process is writing the warehouse.
    """
    warehouse_path, snapshot_path = Path(warehouse_path), Path(snapshot_path)
    if warehouse_path.resolve() == snapshot_path.resolve():
        raise SnapshotError("the snapshot must be another file than the warehouse")
    wal = warehouse_path.with_name(warehouse_path.name + ".wal")
    if wal.exists():
        # The WAL holds committed changes the database file lacks; a copy without it is stale.
        raise SnapshotError(
            f"{wal} exists: the warehouse was not checkpointed and closed after its load "
            "(or a writer still has it open); nothing was published"
        )
    definitions = core_tables() if definitions is None else definitions
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary copy lives in the snapshot's folder so that the rename stays on one file
    # system, where it is atomic.
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{snapshot_path.name}.", suffix=".tmp", dir=snapshot_path.parent
    )
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        # A read-only connection holds a shared lock: no writer can start while we copy.
        with open_read_only(warehouse_path):
            shutil.copyfile(warehouse_path, temp_path)
        _fsync(temp_path)
        _verify(temp_path, definitions)
        temp_path.chmod(_READ_ONLY_MODE)
        os.replace(temp_path, snapshot_path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    _fsync(snapshot_path.parent)
    return snapshot_path


def _verify(copy: Path, definitions: Mapping[str, CoreTable]) -> None:
    try:
        con = duckdb.connect(str(copy), read_only=True)
    except duckdb.Error as exc:
        raise SnapshotError(
            f"the copy of the warehouse does not open read-only ({type(exc).__name__})"
        ) from None
    try:
        present = {
            name
            for (name,) in con.execute(
                """
                SELECT table_name FROM duckdb_tables()
                WHERE database_name = current_database() AND schema_name = $core
                """,
                {"core": CORE_SCHEMA},
            ).fetchall()
        }
        if missing := sorted(set(definitions) - present):
            raise SnapshotError(f"the copy of the warehouse lacks core tables {missing}")
        latest = con.execute(
            "SELECT run_id, status FROM audit.runs ORDER BY started_at DESC LIMIT 1"
        ).fetchall()
        if latest and latest[0][1] == "failed":
            raise SnapshotError(
                f"the latest run {latest[0][0]!r} failed: the snapshot keeps the last good state"
            )
    finally:
        con.close()


def _fsync(path: Path) -> None:
    # Durable before the rename (the file) and after it (the directory entry).
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_LOAD_COMMITS_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.load_commits (
    run_id        VARCHAR   NOT NULL PRIMARY KEY,
    committed_at  TIMESTAMP NOT NULL  -- UTC; written inside the load's own transaction
);
COMMENT ON TABLE audit.load_commits IS
    'One row per committed load: the snapshot is current when its newest row equals the warehouse''s.';
"""


def record_load_commit(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Mark, inside the load's transaction, that this run's load is the warehouse's newest state.

    It commits with the load or not at all, so the mark is exactly "the data the warehouse holds".

    Args:
        con: the writer's connection, inside the load transaction.
        run_id: the loading run.
    """
    con.execute(_LOAD_COMMITS_DDL)
    con.execute("INSERT OR REPLACE INTO audit.load_commits VALUES (?, now()::TIMESTAMP)", [run_id])


def last_load_commit(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run whose load is the newest state of the connected database (None: none recorded).

    Args:
        con: a connection to the warehouse or to a snapshot.
    """
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'audit' AND table_name = 'load_commits'"
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(
        "SELECT run_id FROM audit.load_commits ORDER BY committed_at DESC, run_id DESC LIMIT 1"
    ).fetchall()
    return rows[0][0] if rows else None


def snapshot_is_current(warehouse_path: Path, snapshot_path: Path) -> bool:
    """Whether the analysts' snapshot holds the warehouse's newest committed load.

    A run that committed its load and then failed (a report it could not write, the leak scan of
    the warehouse) publishes nothing; the next run sees the snapshot behind and can publish it.

    Args:
        warehouse_path: the warehouse file, not open for writing anywhere.
        snapshot_path: the snapshot file (missing: not current).
    """
    if not snapshot_path.exists():
        return False
    with open_read_only(warehouse_path) as con:
        ours = last_load_commit(con)
    with open_read_only(snapshot_path) as con:
        theirs = last_load_commit(con)
    return ours == theirs
