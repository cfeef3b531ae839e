"""The analysts' snapshot: verified copy, atomic rename, never after a failed load."""

from __future__ import annotations

import stat

import duckdb
import pytest

from tests.warehouse.helpers import make_batch
from warehouse import (
    RunCounts,
    SnapshotError,
    WarehouseBusyError,
    finish_run,
    load_run,
    open_read_only,
    open_warehouse,
    publish_snapshot,
    start_run,
)


def load_patients(path, definitions, run_id, patient_ids, status="succeeded"):
    """One run that loads these patients and records its outcome."""
    with open_warehouse(path) as con:
        start_run(con, run_id, "ED", "hmac", False, "0123456789abcdef", "cfg")
        rows = [{"patient_id": p} for p in patient_ids]
        load_run(con, run_id, {"patients": make_batch(definitions["patients"], rows)}, False)
        finish_run(con, run_id, status, RunCounts())


def patient_ids(con):
    return [p for (p,) in con.execute("SELECT patient_id FROM core.patients ORDER BY 1").fetchall()]


def test_publish_copies_a_read_only_verified_snapshot(warehouse_path, definitions, tmp_path):
    load_patients(warehouse_path, definitions, "run-1", ["p1"])
    snapshot = tmp_path / "published" / "snapshot.duckdb"
    assert publish_snapshot(warehouse_path, snapshot) == snapshot
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o444
    with open_read_only(snapshot) as con:
        assert patient_ids(con) == ["p1"]
    assert [p.name for p in snapshot.parent.iterdir()] == ["snapshot.duckdb"]  # no temp left


def test_open_readers_keep_the_old_snapshot_until_they_reconnect(
    warehouse_path, definitions, tmp_path
):
    snapshot = tmp_path / "snapshot.duckdb"
    load_patients(warehouse_path, definitions, "run-1", ["p1"])
    publish_snapshot(warehouse_path, snapshot)
    old_inode = snapshot.stat().st_ino
    reader = duckdb.connect(str(snapshot), read_only=True)
    try:
        load_patients(warehouse_path, definitions, "run-2", ["p2"])
        publish_snapshot(warehouse_path, snapshot)
        assert snapshot.stat().st_ino != old_inode  # renamed over, not rewritten in place
        assert patient_ids(reader) == ["p1"]
    finally:
        reader.close()
    with open_read_only(snapshot) as con:
        assert patient_ids(con) == ["p1", "p2"]


def test_failed_latest_run_is_never_published(warehouse_path, definitions, tmp_path):
    snapshot = tmp_path / "snapshot.duckdb"
    load_patients(warehouse_path, definitions, "run-1", ["p1"])
    publish_snapshot(warehouse_path, snapshot)
    load_patients(warehouse_path, definitions, "run-2", ["p2"], status="failed")
    with pytest.raises(SnapshotError, match="run-2' failed"):
        publish_snapshot(warehouse_path, snapshot)
    with open_read_only(snapshot) as con:
        assert patient_ids(con) == ["p1"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_leftover_wal_stops_the_publish(warehouse_path, tmp_path):
    warehouse_path.with_name(warehouse_path.name + ".wal").write_bytes(b"uncheckpointed")
    with pytest.raises(SnapshotError, match="not checkpointed"):
        publish_snapshot(warehouse_path, tmp_path / "snapshot.duckdb")
    assert not (tmp_path / "snapshot.duckdb").exists()


def test_open_writer_stops_the_publish(warehouse_path, tmp_path):
    with open_warehouse(warehouse_path), pytest.raises(WarehouseBusyError):
        publish_snapshot(warehouse_path, tmp_path / "snapshot.duckdb")
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_copy_without_core_tables_is_refused(tmp_path):
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(SnapshotError, match="lacks core tables"):
        publish_snapshot(other, tmp_path / "snapshot.duckdb")


def test_snapshot_must_be_another_file(warehouse_path):
    with pytest.raises(SnapshotError, match="another file"):
        publish_snapshot(warehouse_path, warehouse_path)
