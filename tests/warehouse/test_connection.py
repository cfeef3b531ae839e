"""Opening the warehouse: one writer per file, a clear error for the others, read-only readers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from warehouse import WarehouseBusyError, open_read_only, open_warehouse, transaction

HOLD_LOCK = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def other_process_writing(warehouse_path) -> Iterator[Path]:
    """Another process holding the warehouse open for writing (as the nightly load does)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(warehouse_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield warehouse_path
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.parametrize("read_only", [False, True])
def test_other_process_writing_gives_busy_error(other_process_writing, read_only):
    opener = open_read_only if read_only else open_warehouse
    with pytest.raises(WarehouseBusyError) as busy, opener(other_process_writing):
        pass
    message = str(busy.value)
    assert str(other_process_writing) in message
    assert "wait for it to finish" in message and "snapshot" in message
    assert "PID" not in message and "Conflicting lock" not in message  # DuckDB's text withheld
    assert busy.value.__cause__ is None and busy.value.__suppress_context__


def test_other_mode_in_this_process_gives_busy_error(warehouse_path):
    with (
        open_warehouse(warehouse_path),
        pytest.raises(WarehouseBusyError, match="already open in this process"),
        open_read_only(warehouse_path),
    ):
        pass


def test_new_file_and_folder_are_created(tmp_path):
    path = tmp_path / "nested" / "warehouse.duckdb"
    with open_warehouse(path) as con:
        assert con.execute("SELECT count(*) FROM core.patients").fetchall() == [(0,)]
    assert path.is_file()


def test_read_only_readers_share_the_file_and_cannot_write(warehouse_path):
    with open_read_only(warehouse_path) as first, open_read_only(warehouse_path) as second:
        assert first.execute("SELECT count(*) FROM core.visits").fetchall() == [(0,)]
        assert second.execute("SELECT count(*) FROM audit.runs").fetchall() == [(0,)]
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            first.execute("DELETE FROM core.visits")


def test_read_only_needs_an_existing_file(tmp_path):
    with pytest.raises(FileNotFoundError), open_read_only(tmp_path / "missing.duckdb"):
        pass
    assert not (tmp_path / "missing.duckdb").exists()


def test_transaction_commits_or_rolls_back(writer):
    with transaction(writer):
        writer.execute(
            "INSERT INTO audit.files VALUES ('s1', 'n', 'csv', 1, 'r', NULL, 0, 0, 0, 'failed')"
        )
    with pytest.raises(RuntimeError), transaction(writer):
        writer.execute("DELETE FROM audit.files")
        raise RuntimeError("stop")
    assert writer.execute("SELECT file_sha256 FROM audit.files").fetchall() == [("s1",)]
