"""Run history: table counts per run and the value-free reads the run report is built from."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from expectations.checks import CheckResult, record_results
from tests.expectations.helpers import insert
from transforms.deid.apply import TableDeidCounts
from transforms.deid.evidence import EvidenceRow, ExtensionCount
from transforms.deid.leakscan import LocationScan
from warehouse import FileRecord, FileTypeCount, core_tables
from warehouse import run_history as history
from warehouse.evidence import record_csv_columns, record_evidence
from warehouse.leak_scan import LeakScanResult, record_leak_scan
from warehouse.ledger import record_file_counts, record_files, record_quarantine
from warehouse.risk import measure_risk

from .helpers import FILE_A, FILE_B

FINGERPRINT = "0123456789abcdef"
CANARY_URL = "https://canary.invalid/extension-qzcanary"
CANARY_HEADER = "qzcanary_vexlerow_header"


def _add_run(
    con: duckdb.DuckDBPyConnection, run_id: str, started: dt.datetime, status: str = "succeeded"
) -> None:
    con.execute(
        """
        INSERT INTO audit.runs (run_id, started_at, finished_at, status, profile, pseudonym_mode,
                                full_refresh, key_fingerprint, config_hash, files_loaded)
        VALUES (?, ?, ?, ?, 'ED', 'hmac', false, ?, 'cfg', 1)
        """,
        [run_id, started, started + dt.timedelta(minutes=5), status, FINGERPRINT],
    )


def _result(check_id: str, status: str, severity: str = "warning") -> CheckResult:
    counts = {
        "passed": (10, 0, 0.0),
        "failed": (10, 4, 40.0),
        "not_applicable": (0, 0, None),
        "error": (None, None, None),
    }[status]
    return CheckResult(
        check_id,
        status,
        severity,
        *counts,
        threshold_pct=1.0,
        error_class="CatalogException" if status == "error" else None,
    )


def test_record_table_counts_counts_every_core_table_and_replaces_a_rerun(writer):
    insert(writer, "patients", {"patient_id": "p1"})
    insert(writer, "patients", {"patient_id": "p2"})
    insert(writer, "visits", {"visit_id": "v1", "patient_id": "p1"})

    counts = history.record_table_counts(writer, "run-1")

    assert set(counts) == {f"core.{name}" for name in core_tables()}
    assert counts["core.patients"] == 2
    assert counts["core.visits"] == 1
    assert counts["core.meds"] == 0
    insert(writer, "patients", {"patient_id": "p3"})
    history.record_table_counts(writer, "run-1")
    assert history.table_counts(writer, "run-1")["core.patients"] == 3
    rows = writer.execute(
        "SELECT count(*) FROM audit.table_counts WHERE run_id = 'run-1'"
    ).fetchall()
    assert rows[0][0] == len(core_tables())  # replaced, not appended


def test_record_table_counts_includes_study_tables_when_the_schema_exists(writer):
    writer.execute(
        "CREATE SCHEMA study; CREATE TABLE study.cohort AS SELECT range AS i FROM range(7)"
    )

    counts = history.record_table_counts(writer, "run-1")

    assert counts["study.cohort"] == 7
    assert history.table_counts(writer, "run-1")["study.cohort"] == 7
    assert not [name for name in counts if name.startswith("audit.")]


def test_previous_run_is_the_latest_earlier_run_with_check_results_whatever_its_status(writer):
    start = dt.datetime(2025, 1, 1, 2, 30)
    _add_run(writer, "r1", start, "failed")
    _add_run(writer, "r2", start + dt.timedelta(days=1), "succeeded")  # no check results
    _add_run(writer, "r3", start + dt.timedelta(days=2), "succeeded")
    _add_run(writer, "r4", start + dt.timedelta(days=3), "running")
    for run_id in ("r1", "r3", "r4"):
        record_results(writer, run_id, [_result("pk_patients", "passed", "fatal")])

    assert history.previous_run_id(writer, "r3") == "r1"
    assert history.previous_run_id(writer, "r4") == "r3"
    assert history.previous_run_id(writer, "r2") == "r1"
    assert history.previous_run_id(writer, "r1") is None
    assert history.previous_run_id(writer, "nobody") is None


def test_previous_run_breaks_equal_start_times_by_run_id(writer):
    start = dt.datetime(2025, 1, 1, 2, 30)
    for run_id in ("a", "b", "c"):
        _add_run(writer, run_id, start)
        record_results(writer, run_id, [_result("pk_patients", "passed", "fatal")])

    assert history.previous_run_id(writer, "c") == "b"
    assert history.previous_run_id(writer, "a") is None


def test_list_runs_counts_failing_checks_by_severity_newest_first(writer):
    start = dt.datetime(2025, 1, 1, 2, 30)
    _add_run(writer, "r1", start, "failed")
    _add_run(writer, "r2", start + dt.timedelta(days=1))
    record_results(
        writer,
        "r1",
        [
            _result("pk_patients", "failed", "fatal"),
            _result("fk_visits_patient", "error", "fatal"),
            _result("completeness_patients_without_visit", "failed"),
            _result("plausibility_pain_score_range", "passed"),
        ],
    )

    runs = history.list_runs(writer)

    assert [run["run_id"] for run in runs] == ["r2", "r1"]
    assert runs[1] | {"started_at": None, "finished_at": None} == {
        "run_id": "r1",
        "status": "failed",
        "started_at": None,
        "finished_at": None,
        "profile": "ED",
        "files_loaded": 1,
        "checks": 4,
        "fatal_failures": 2,
        "warning_failures": 1,
    }
    assert runs[0]["checks"] == 0
    assert [run["run_id"] for run in history.list_runs(writer, limit=1)] == ["r2"]


def test_check_results_are_counts_and_status_only(writer):
    result = CheckResult(
        "fk_meds_patient",
        "failed",
        "fatal",
        3,
        1,
        100 / 3,
        0.0,
        key_columns=("med_id",),
        violating_keys=(("m-orphan-key",),),
    )
    record_results(writer, "r1", [result])

    rows = history.check_results(writer, "r1")

    assert rows == [
        {
            "check_id": "fk_meds_patient",
            "status": "failed",
            "severity": "fatal",
            "rows_checked": 3,
            "rows_violating": 1,
            "pct": pytest.approx(100 / 3),
            "threshold_pct": 0.0,
            "error_class": None,
        }
    ]
    assert "m-orphan-key" not in repr(rows)
    assert history.check_results(writer, None) == []


def test_files_manifest_and_resource_types_belong_to_the_run(writer):
    start = dt.datetime(2025, 1, 1, 2, 30)
    _add_run(writer, "r1", start)
    _add_run(writer, "r2", start + dt.timedelta(days=1))
    record_files(writer, "r1", [FileRecord(FILE_A, "name-a", "ndjson", 100, 5, 5, 0)])
    record_file_counts(writer, "r1", [FileTypeCount(FILE_A, "Patient", 5, 5, 0)])
    record_files(writer, "r2", [FileRecord(FILE_B, "name-b", "bundle", 250, 9, 7, 2)])
    record_file_counts(
        writer,
        "r2",
        [
            FileTypeCount(FILE_B, "Patient", 3, 3, 0),
            FileTypeCount(FILE_B, "Encounter", 6, 4, 2),
        ],
    )

    assert history.files_manifest(writer, "r2") == [
        {
            "file_sha256": FILE_B,
            "file_name_hash": "name-b",
            "format": "bundle",
            "size_bytes": 250,
            "status": "loaded",
            "resources_read": 9,
            "resources_loaded": 7,
            "resources_quarantined": 2,
        }
    ]
    assert [f["file_sha256"] for f in history.files_manifest(writer, "r1")] == [FILE_A]
    assert history.resource_type_counts(writer, "r2") == [
        {"resource_type": "Encounter", "read": 6, "loaded": 4, "quarantined": 2},
        {"resource_type": "Patient", "read": 3, "loaded": 3, "quarantined": 0},
    ]


def test_quarantine_summary_groups_by_type_error_and_path_without_ids_or_lines(writer):
    rows = [
        {
            "file_sha256": FILE_A,
            "line": line,
            "resource_type": "Patient",
            "id_hash": f"idhash-{line}",
            "error_class": "ValidationError",
            "element": f"entry[{line}].resource.birthDate",
        }
        for line in (3, 14)
    ]
    rows.append(
        {
            "file_sha256": FILE_A,
            "line": 20,
            "resource_type": None,
            "id_hash": None,
            "error_class": "JSONDecodeError",
            "element": None,
        }
    )
    record_quarantine(writer, "r1", rows)

    summary = history.quarantine_summary(writer, "r1")

    assert summary == [
        {
            "resource_type": "Patient",
            "error_class": "ValidationError",
            "element": "entry[*].resource.birthDate",
            "count": 2,
        },
        {"resource_type": None, "error_class": "JSONDecodeError", "element": None, "count": 1},
    ]
    assert "idhash" not in repr(summary)
    assert history.quarantine_summary(writer, "other-run") == []


def test_deid_evidence_counts_extensions_and_csv_columns_without_their_names(writer):
    _add_run(writer, "r1", dt.datetime(2025, 1, 1))
    record_evidence(
        writer,
        "r1",
        [
            EvidenceRow("A", "names", "Patient.name", "dropped", 4),
            EvidenceRow("C", "dates", "Patient.birthDate", "generalized to year", 2),
        ],
        {"patients": TableDeidCounts(rows=2, pseudonymized=2)},
        {
            "patients_shifted": 2,
            "min_offset_days": -30,
            "max_offset_days": 12,
            "zero_offsets": 0,
            "out_of_range": 0,
        },
        "ED",
        365,
        FINGERPRINT,
        [ExtensionCount(CANARY_URL, 3, False), ExtensionCount(CANARY_URL + "-2", 1, False)],
    )
    record_csv_columns(writer, "r1", [(FILE_A, CANARY_HEADER, "dropped_unknown", 1)])

    evidence = history.deid_evidence(writer, "r1")

    assert [row["category"] for row in evidence["safe_harbor"]] == ["A", "C"]
    assert evidence["tables"][0]["table_name"] == "patients"
    assert evidence["tables"][0]["pseudonymized"] == 2
    assert evidence["date_shift"]["min_offset_days"] == -30
    assert evidence["date_shift"]["new_key_epoch"] is False
    assert evidence["extensions"] == [{"kept": False, "definitions": 2, "occurrences": 4}]
    assert evidence["csv_columns"] == [{"action": "dropped_unknown", "columns": 1, "values": 1}]
    assert "canary" not in repr(evidence).lower()


def test_risk_and_leak_scan_rows(writer):
    _add_run(writer, "r1", dt.datetime(2025, 1, 1))
    for number in range(3):
        insert(writer, "patients", {"patient_id": f"p{number}", "birth_year": 1980, "sex": "f"})
    measure_risk(writer, "r1", k=5)
    record_leak_scan(
        writer,
        "r1",
        LeakScanResult(
            "warehouse",
            (
                LocationScan("core.patients.sex", 3, 1, 0, {}),
                LocationScan("core.visits.status", 0, 0, 0, {}),
            ),
            tokens_checked=1,
            index_entries=10,
            seconds=0.1,
            control=LocationScan("control", 1, 1, 1, {"control": 1}),
        ),
    )

    risk = history.risk_rows(writer, "r1")
    scan = history.leak_scan_rows(writer, "r1")

    assert {row["qi_set"] for row in risk} == {"qi_basic", "qi_extended"}
    assert risk[0]["patients"] == 3 and risk[0]["patients_below_k"] == 3
    assert [row["location"] for row in scan] == [
        "control",
        "core.patients.sex",
        "core.visits.status",
        "total:warehouse",
    ]
    assert scan[0]["hits_by_category"] == {"control": 1}


def test_every_reader_tolerates_missing_audit_tables():
    con = duckdb.connect()
    try:
        assert history.run_row(con, "r1") is None
        assert history.list_runs(con) == []
        assert history.previous_run_id(con, "r1") is None
        assert history.check_results(con, "r1") == []
        assert history.table_counts(con, "r1") == {}
        assert history.files_manifest(con, "r1") == []
        assert history.resource_type_counts(con, "r1") == []
        assert history.quarantine_summary(con, "r1") == []
        assert history.risk_rows(con, "r1") == []
        assert history.leak_scan_rows(con, "r1") == []
        assert history.deid_evidence(con, "r1") == {
            "safe_harbor": [],
            "tables": [],
            "date_shift": None,
            "extensions": [],
            "csv_columns": [],
            "notes_scrubber": [],
        }
        assert history.record_table_counts(con, "r1") == {}
        assert history.table_exists(con, "audit.table_counts")
    finally:
        con.close()


def test_readers_work_on_a_read_only_connection(warehouse_path):
    from warehouse import open_read_only, open_warehouse

    with open_warehouse(warehouse_path) as con:
        _add_run(con, "r1", dt.datetime(2025, 1, 1))
        history.record_table_counts(con, "r1")
    with open_read_only(warehouse_path) as con:
        assert history.run_row(con, "r1")["status"] == "succeeded"
        assert history.table_counts(con, "r1")["core.patients"] == 0
        assert history.deid_evidence(con, "r1")["date_shift"] is None
