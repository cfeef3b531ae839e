"""The run ledger: runs, files for incremental loads, per-type balance, quarantine."""

from __future__ import annotations

import duckdb
import pytest

from warehouse import (
    FileRecord,
    FileTypeCount,
    LedgerError,
    RunCounts,
    finish_run,
    loaded_file_hashes,
    record_file_counts,
    record_files,
    record_quarantine,
    start_run,
    transaction,
)


def start(con, run_id, full_refresh=False, key_fingerprint="0123456789abcdef", profile="ED"):
    start_run(con, run_id, profile, "hmac", full_refresh, key_fingerprint, "cfg-hash")


def file(sha, status="loaded"):
    return FileRecord(
        sha, f"name-{sha}", "ndjson", 100, 10, 9 if status == "loaded" else 0, 1, status
    )


def test_run_starts_running_and_finishes_with_counts(writer):
    start(writer, "run-1")
    assert writer.execute("SELECT status, finished_at FROM audit.runs").fetchall() == [
        ("running", None)
    ]
    finish_run(
        writer, "run-1", "succeeded", RunCounts(files_seen=3, files_loaded=2, files_skipped=1)
    )
    row = writer.execute(
        """
        SELECT status, files_seen, files_loaded, files_skipped, resources_read, error_summary,
               finished_at >= started_at
        FROM audit.runs
        """
    ).fetchall()
    assert row == [("succeeded", 3, 2, 1, 0, None, True)]


def test_failed_run_keeps_its_value_free_summary(writer):
    start(writer, "run-1")
    finish_run(writer, "run-1", "failed", RunCounts(), "load: ConversionException")
    assert writer.execute("SELECT status, error_summary FROM audit.runs").fetchall() == [
        ("failed", "load: ConversionException")
    ]


def test_ledger_refuses_contradictions(writer):
    start(writer, "run-1")
    with pytest.raises(LedgerError, match="already recorded"):
        start(writer, "run-1")
    with pytest.raises(LedgerError, match="'succeeded' or 'failed'"):
        finish_run(writer, "run-1", "running", RunCounts())
    finish_run(writer, "run-1", "succeeded", RunCounts())
    with pytest.raises(LedgerError, match="not running"):
        finish_run(writer, "run-1", "failed", RunCounts())
    with pytest.raises(LedgerError, match="not recorded"):
        finish_run(writer, "run-9", "failed", RunCounts())


def test_new_key_or_profile_needs_a_full_refresh(writer):
    start(writer, "run-1")
    finish_run(writer, "run-1", "succeeded", RunCounts())
    with pytest.raises(LedgerError, match=r"another key: .*full refresh"):
        start(writer, "run-2", key_fingerprint="fedcba9876543210")
    with pytest.raises(LedgerError, match="another profile"):
        start(writer, "run-2", profile="SH")
    start(writer, "run-2", full_refresh=True, key_fingerprint="fedcba9876543210")
    finish_run(writer, "run-2", "succeeded", RunCounts())
    start(writer, "run-3", key_fingerprint="fedcba9876543210")


def test_loaded_files_are_skipped_next_time_failed_ones_retried(writer):
    start(writer, "run-1")
    record_files(writer, "run-1", [file("s1"), file("s2", "failed")])
    assert loaded_file_hashes(writer) == {"s1"}

    start(writer, "run-2")
    record_files(writer, "run-2", [file("s2")])
    assert loaded_file_hashes(writer) == {"s1", "s2"}
    rows = writer.execute(
        "SELECT file_sha256, first_run_id, status, loaded_at IS NOT NULL FROM audit.files ORDER BY 1"
    ).fetchall()
    assert rows == [("s1", "run-1", "loaded", True), ("s2", "run-1", "loaded", True)]


def test_same_file_twice_in_one_call_is_refused(writer):
    with pytest.raises(LedgerError, match="twice"):
        record_files(writer, "run-1", [file("s1"), file("s1")])


def test_full_refresh_forgets_loaded_files_but_keeps_run_history(writer):
    start(writer, "run-1")
    record_files(writer, "run-1", [file("s1"), file("s2")])
    finish_run(writer, "run-1", "succeeded", RunCounts(files_loaded=2))
    start(writer, "run-2", full_refresh=True)
    assert loaded_file_hashes(writer) == set()
    assert writer.execute("SELECT run_id, full_refresh FROM audit.runs ORDER BY 1").fetchall() == [
        ("run-1", False),
        ("run-2", True),
    ]


def test_file_counts_balance_per_type(writer):
    record_file_counts(
        writer,
        "run-1",
        [FileTypeCount("s1", "Patient", 10, 9, 1), FileTypeCount("s1", "Encounter", 5, 5, 0)],
    )
    assert writer.execute(
        'SELECT resource_type, "read", loaded, quarantined FROM audit.file_counts ORDER BY 1'
    ).fetchall() == [("Encounter", 5, 5, 0), ("Patient", 10, 9, 1)]
    with pytest.raises(duckdb.ConstraintException):
        record_file_counts(writer, "run-1", [FileTypeCount("s2", "Patient", 1, 1, 1)])


def test_quarantine_rows_keep_exactly_the_value_free_fields(writer):
    rows = [
        {
            "file_sha256": "s1",
            "line": 7,
            "resource_type": "Observation",
            "id_hash": "h1",
            "error_class": "ValidationError",
            "element": "valueQuantity.value",
        },
        {
            "file_sha256": "s1",
            "line": 8,
            "resource_type": None,
            "id_hash": None,
            "error_class": "JSONDecodeError",
            "element": None,
        },
    ]
    assert record_quarantine(writer, "run-1", rows) == 2
    assert writer.execute(
        "SELECT run_id, line, resource_type, error_class FROM audit.quarantine ORDER BY line"
    ).fetchall() == [
        ("run-1", 7, "Observation", "ValidationError"),
        ("run-1", 8, None, "JSONDecodeError"),
    ]
    with pytest.raises(LedgerError, match=r"unexpected \['value'\]"):
        record_quarantine(writer, "run-1", [{**rows[0], "value": "Qzcanary"}])
    assert writer.execute("SELECT count(*) FROM audit.quarantine").fetchall() == [(2,)]


def test_bookkeeping_can_share_one_transaction(writer):
    start(writer, "run-1")
    with pytest.raises(RuntimeError), transaction(writer):
        record_files(writer, "run-1", [file("s1")])
        record_file_counts(writer, "run-1", [FileTypeCount("s1", "Patient", 10, 9, 1)])
        finish_run(writer, "run-1", "succeeded", RunCounts(files_loaded=1))
        raise RuntimeError("crash before commit")
    assert loaded_file_hashes(writer) == set()
    assert writer.execute("SELECT status FROM audit.runs").fetchall() == [("running",)]
