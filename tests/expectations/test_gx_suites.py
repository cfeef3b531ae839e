"""The Great Expectations suites on the staged batch: catalogue entries, counts, no values, no network."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from expectations.checks import (
    CATALOGUE_PATH,
    CatalogueError,
    Check,
    load_catalogue,
    record_results,
)
from expectations.gx_suites import run_gx_checks
from tests.conftest import PROJECT_ROOT
from transforms.deid.apply import DeidContext
from transforms.deid.keys import DeidKeys
from transforms.deid.pseudonyms import resource_pseudonym
from transforms.sources.discover import discover
from transforms.sql_on_fhir import compile_view
from transforms.staging import deidentified_tables, stage_file
from transforms.synth import SyntheticExport, generate, write_export
from transforms.views import load_views
from warehouse import core_tables

CANARY = "CANARY-9f3a"
RUN_ID = "run-gx"
LINEAGE = ("_source_file_hash", "_source_line")
ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
}
DAY = dt.date(2021, 3, 1)

# Two rows per table; every gx check judges at least one row of it and passes.
CLEAN_BATCH: dict[str, list[dict[str, object]]] = {
    "patients": [
        {"patient_id": "p1", "birth_year": 1980, "sex": "female"},
        {"patient_id": "p2", "age_group": "90+", "sex": "male"},
    ],
    "visits": [
        {"visit_id": "v1", "patient_id": "p1", "start_date": DAY, "status": "finished"},
        {"visit_id": "v2", "patient_id": "p2", "start_date": DAY, "status": "planned"},
    ],
    "conditions": [
        {
            "condition_id": "c1",
            "patient_id": "p1",
            "clinical_status": "active",
            "verification_status": "confirmed",
        },
        {
            "condition_id": "c2",
            "patient_id": "p2",
            "clinical_status": "resolved",
            "verification_status": "provisional",
        },
    ],
    "meds": [
        {
            "med_id": "m1",
            "patient_id": "p1",
            "dose_value": 4.5,
            "frequency_per_day": 1.0,
            "authored_date": DAY,
            "status": "active",
            "intent": "order",
        },
        {
            "med_id": "m2",
            "patient_id": "p2",
            "dose_value": 0.0,  # the boundary is allowed
            "frequency_per_day": 0.5,
            "authored_date": DAY,
            "status": "completed",
            "intent": "plan",
        },
    ],
    "observations": [
        # One observation with a component: the id repeats, the composite key does not.
        {
            "observation_id": "o1",
            "value_index": 0,
            "patient_id": "p1",
            "status": "final",
            "effective_date": DAY,
        },
        {
            "observation_id": "o1",
            "value_index": 1,
            "patient_id": "p1",
            "status": "final",
            "effective_date": DAY,
        },
    ],
    "questionnaire_responses": [
        {"response_id": "r1", "patient_id": "p1", "authored_date": DAY, "status": "completed"},
        {"response_id": "r2", "patient_id": "p2", "authored_date": DAY, "status": "in-progress"},
    ],
    "questionnaire_items": [
        {"response_id": "r1", "link_id": "q1", "answer_index": 0},
        {"response_id": "r1", "link_id": "q6", "answer_index": 0},
    ],
    "adverse_events": [
        {"event_id": "e1", "patient_id": "p1", "actuality": "actual", "severity": "mild"},
        {"event_id": "e2", "patient_id": "p2", "actuality": "potential", "severity": "severe"},
    ],
    "notes": [
        {"note_id": "n1", "content_index": 0, "patient_id": "p1", "status": "current"},
        {"note_id": "n1", "content_index": 1, "patient_id": "p1", "status": "current"},
    ],
}
# Read without GX so that collecting this module stays fast.
GX_CHECK_IDS = [
    entry["id"]
    for entry in yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))["checks"]
    if entry["kind"] == "gx"
]


def arrow_batch(table: str, rows: list[dict[str, object]]) -> pa.Table:
    """Rows as the flow hands them over: every view column, typed, plus source lineage."""
    columns = core_tables()[table].columns
    data: dict[str, pa.Array] = {
        column.name: pa.array([row.get(column.name) for row in rows], ARROW_TYPES[column.sql_type])
        for column in columns
    }
    data["_source_file_hash"] = pa.array(["a" * 64] * len(rows), pa.string())
    data["_source_line"] = pa.array(range(1, len(rows) + 1), pa.int64())
    return pa.table(data)


def clean_batches(**changed: list[dict[str, object]]) -> dict[str, pa.Table]:
    """The clean batch, with the rows of some tables replaced."""
    rows = {name: [dict(row) for row in table_rows] for name, table_rows in CLEAN_BATCH.items()}
    rows.update(changed)
    return {name: arrow_batch(name, table_rows) for name, table_rows in rows.items()}


def clean_rows(table: str) -> list[dict[str, object]]:
    return [dict(row) for row in CLEAN_BATCH[table]]


def by_id(results) -> dict:
    return {result.check_id: result for result in results}


def gx_checks(catalogue: list[Check], table: str | None = None) -> list[Check]:
    return [c for c in catalogue if c.kind == "gx" and table in (None, c.table)]


# ------------------------------------------------------------------------------ the catalogue


def _catalogue_with(tmp_path: Path, edit: Callable[[dict], None], kind: str = "gx") -> Path:
    """The project's catalogue with ``edit`` applied to its first entry of ``kind``."""
    entries = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))["checks"]
    edit(next(entry for entry in entries if entry["kind"] == kind))
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"checks": entries}, sort_keys=False), encoding="utf-8")
    return path


def test_gx_entries_are_loaded_with_expectation_and_kwargs(catalogue) -> None:
    status = next(c for c in catalogue if c.id == "batch_visits_status_in_value_set")
    assert (status.kind, status.sql, status.denominator, status.sql_path) == (
        "gx",
        None,
        None,
        None,
    )
    assert status.expectation == "ExpectColumnValuesToBeInSet"
    assert status.kwargs["column"] == "status" and "done-ish" not in status.kwargs["value_set"]
    assert set(status.kwargs["value_set"]) == {
        "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
        "entered-in-error", "unknown",
    }  # fmt: skip
    assert hash(status) == hash(status)  # kwargs (a dict) stays out of the hash
    with pytest.raises(TypeError, match="no SQL"):
        status.violation_query()
    with pytest.raises(TypeError, match="no denominator"):
        status.denominator_query()


def test_gx_checks_cover_every_key_and_patient_reference(catalogue) -> None:
    checks = gx_checks(catalogue)
    not_null = {(c.table, c.column) for c in checks if c.expectation.endswith("NotBeNull")}
    for name, table in core_tables().items():
        assert {(name, column) for column in table.key} <= not_null
        if "patient_id" in table.column_names and name != "patients":
            assert (name, "patient_id") in not_null
        unique = [c for c in checks if c.table == name and c.expectation.endswith("BeUnique")]
        assert [c.columns for c in unique] == [table.key]
        assert unique[0].severity == "warning"  # the loader dedupes: reported, not blocking
    # A NULL key or a code outside a required binding makes the row untrustworthy: fatal at 0 %.
    for check in checks:
        key_or_patient = (*core_tables()[check.table].key, "patient_id")
        if check.expectation == "ExpectColumnValuesToBeInSet" or (
            check.expectation == "ExpectColumnValuesToNotBeNull" and check.column in key_or_patient
        ):
            assert (check.severity, check.threshold_pct) == ("fatal", 0.0), check.id


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.update(expectation="ExpectColumnValuesToBeGreen"), "no Great Expectations"),
        (lambda e: e.update(expectation="ExpectColumnMaxToBeBetween"), "is not row-level"),
        (lambda e: e.update(expectation=""), "expectation must be a non-empty string"),
        (lambda e: e.update(kwargs={"column": "ssn"}, column="ssn"), "has no column"),
        (lambda e: e.update(kwargs={"column": "sex"}), "column must be 'sex'"),
        (lambda e: e.update(sql="x.sql"), "sql is for sql checks"),
        (lambda e: e.update(denominator="patients"), "denominator is for sql checks"),
        (lambda e: e.pop("kwargs"), r"missing fields \['kwargs'\]"),
        (lambda e: e.pop("expectation"), r"missing fields \['expectation'\]"),
        (lambda e: e.update(kwargs=["column"]), "kwargs must be a mapping"),
        (lambda e: e.update(kwargs={}), "kwargs name no column"),
        (lambda e: e["kwargs"].update(mostly=0.9), r"may not set \['mostly'\]"),
        (lambda e: e["kwargs"].update(result_format="COMPLETE"), "may not set"),
        (lambda e: e["kwargs"].update(row_condition="sex == 'x'"), "may not set"),
        (lambda e: e["kwargs"].update(colour="red"), r"\['colour'\] are no arguments"),
        (lambda e: e["kwargs"].update(column=["patient_id"]), "kwargs do not fit"),
        (
            lambda e: e.update(
                expectation="ExpectColumnValuesToBeInSet",
                kwargs={"column": "patient_id", "value_set": "p1"},
            ),
            "kwargs do not fit ExpectColumnValuesToBeInSet: value_set",
        ),
    ],
)
def test_invalid_gx_entry_is_refused(tmp_path, catalogue, edit, message) -> None:
    path = _catalogue_with(tmp_path, edit)
    with pytest.raises(CatalogueError, match=message) as raised:
        load_catalogue(path)
    assert f"check {gx_checks(catalogue)[0].id!r}" in str(raised.value)


def test_sql_entry_may_not_carry_gx_fields(tmp_path) -> None:
    path = _catalogue_with(
        tmp_path, lambda e: e.update(expectation="ExpectColumnValuesToBeUnique"), kind="sql"
    )
    with pytest.raises(CatalogueError, match="'pk_patients': expectation is for gx checks"):
        load_catalogue(path)


def test_gx_fields_may_be_null_on_sql_entries_and_the_reverse(tmp_path, catalogue) -> None:
    path = _catalogue_with(tmp_path, lambda e: e.update(expectation=None, kwargs=None), "sql")
    assert load_catalogue(path) == catalogue
    path = _catalogue_with(tmp_path, lambda e: e.update(sql=None, denominator=None))
    assert load_catalogue(path) == catalogue


# ------------------------------------------------------------------------------ the runner


def test_clean_batch_passes_every_gx_check(catalogue) -> None:
    results = run_gx_checks(clean_batches(), checks=catalogue)
    assert [r.check_id for r in results] == [c.id for c in gx_checks(catalogue)]
    assert {r.check_id: r.status for r in results} == {r.check_id: "passed" for r in results}
    assert all(r.rows_checked and r.rows_violating == 0 and r.pct == 0.0 for r in results)
    assert all(r.violating_keys == () and r.key_columns == () for r in results)


def _plant(check: Check) -> tuple[dict[str, pa.Table], int]:
    """The clean batch with one violation of ``check``, and the rows GX must count."""
    rows = clean_rows(check.table)
    column = check.columns[0]
    kwargs = check.kwargs or {}
    if check.expectation == "ExpectColumnValuesToNotBeNull":
        rows[0][column], expected = None, 1
    elif check.expectation == "ExpectColumnValuesToBeInSet":
        rows[0][column], expected = CANARY, 1
    elif check.expectation in ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"):
        rows.append(dict(rows[0]))
        expected = 2  # GX counts both rows carrying the repeated key
    elif check.expectation == "ExpectColumnValuesToBeBetween":
        if kwargs.get("min_value") is not None:
            low = kwargs["min_value"]
            rows[0][column] = low if kwargs.get("strict_min") else low - 1
        else:
            high = kwargs["max_value"]
            rows[0][column] = high if kwargs.get("strict_max") else high + 1
        expected = 1
    else:
        raise AssertionError(f"no planting for {check.expectation} ({check.id})")
    return clean_batches(**{check.table: rows}), expected


@pytest.mark.parametrize("check_id", GX_CHECK_IDS)
def test_planted_violation_is_caught(check_id, catalogue) -> None:
    check = next(c for c in catalogue if c.id == check_id)
    batches, expected = _plant(check)
    results = by_id(run_gx_checks(batches, checks=gx_checks(catalogue, check.table)))
    result = results.pop(check_id)
    batch = batches[check.table]
    # Rows GX judges: all for a NULL check, the non-NULL ones otherwise.
    skipped = 0 if "NotBeNull" in check.expectation else batch.column(check.columns[0]).null_count
    assert (result.status, result.rows_violating) == ("failed", expected)
    assert result.rows_checked == batch.num_rows - skipped
    assert result.pct == pytest.approx(100 * expected / result.rows_checked)
    assert result.violating_keys == () and result.error_class is None
    # The planting breaks this check alone.
    assert {r.status for r in results.values()} == {"passed"}, results


def test_rows_checked_leave_out_the_rows_gx_skips(catalogue) -> None:
    meds = [*clean_rows("meds"), dict(clean_rows("meds")[0], med_id="m3", dose_value=None)]
    results = by_id(run_gx_checks(clean_batches(meds=meds), checks=gx_checks(catalogue, "meds")))
    assert results["batch_meds_dose_value_not_negative"].rows_checked == 2  # NULL: not judged
    assert results["batch_meds_med_id_not_null"].rows_checked == 3


def test_every_gx_check_has_a_planting(catalogue) -> None:
    for check in gx_checks(catalogue):
        _plant(check)


def test_absent_or_empty_table_is_not_applicable(catalogue) -> None:
    batches = clean_batches()
    del batches["visits"]
    batches["notes"] = batches["notes"].slice(0, 0)
    results = run_gx_checks(batches, checks=catalogue)
    for result in results:
        table = next(c.table for c in catalogue if c.id == result.check_id)
        if table in ("visits", "notes"):
            assert (result.status, result.rows_checked, result.rows_violating, result.pct) == (
                "not_applicable",
                0,
                0,
                None,
            )
        else:
            assert result.status == "passed"


def test_column_without_any_value_is_not_applicable(catalogue) -> None:
    patients = [dict(row, age_group=None) for row in clean_rows("patients")]
    results = by_id(run_gx_checks(clean_batches(patients=patients), checks=catalogue))
    result = results["batch_patients_age_group_in_value_set"]
    assert (result.status, result.rows_checked, result.pct) == ("not_applicable", 0, None)


def test_missing_column_is_an_error_with_its_class_only(catalogue) -> None:
    batches = clean_batches()
    batches["visits"] = batches["visits"].drop_columns(["status"])
    results = by_id(run_gx_checks(batches, checks=gx_checks(catalogue, "visits")))
    for check_id in ("batch_visits_status_not_null", "batch_visits_status_in_value_set"):
        result = results.pop(check_id)
        assert (result.status, result.rows_checked, result.rows_violating, result.pct) == (
            "error",
            None,
            None,
            None,
        )
        assert result.error_class == "MetricResolutionError"
    assert {r.status for r in results.values()} == {"passed"}


@pytest.fixture
def raw_gx_results(monkeypatch) -> list[str]:
    """Every validation result exactly as GX returns it, serialized before our scrubbing."""
    from great_expectations.core.validation_definition import ValidationDefinition

    captured: list[str] = []
    run = ValidationDefinition.run

    def spy(self, *args, **kwargs):
        result = run(self, *args, **kwargs)
        captured.append(json.dumps(result.to_json_dict(), default=str))
        return result

    monkeypatch.setattr(ValidationDefinition, "run", spy)
    return captured


def _files_containing(folder: Path, needle: str) -> list[Path]:
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes()
    ]


def test_no_batch_value_reaches_results_or_data_docs(catalogue, tmp_path, raw_gx_results) -> None:
    visits = clean_rows("visits")
    visits[0]["status"] = CANARY  # outside the value set
    visits[1]["visit_id"] = f"{CANARY}-key"  # a repeated key
    visits.append(dict(visits[1]))
    patients = clean_rows("patients")
    patients[0]["sex"] = f"{CANARY}-sex"
    meds = clean_rows("meds")
    meds[0]["dose_value"] = -937.25
    batches = clean_batches(visits=visits, patients=patients, meds=meds)
    docs = tmp_path / "gx"
    results = by_id(run_gx_checks(batches, checks=catalogue, data_docs_dir=docs))
    assert results["batch_visits_status_in_value_set"].rows_violating == 1
    assert results["batch_visits_key_unique"].rows_violating == 2
    assert results["batch_patients_sex_in_value_set"].rows_violating == 1
    assert results["batch_meds_dose_value_not_negative"].rows_violating == 1

    assert len(raw_gx_results) == len(CLEAN_BATCH)  # one suite per table
    for serialized in raw_gx_results:
        assert CANARY not in serialized and "937.25" not in serialized
    assert CANARY not in repr(list(results.values()))
    assert (docs / "index.html").is_file()
    pages = [p for p in docs.rglob("*.html") if "validations" in p.parts]
    assert len(pages) == len(CLEAN_BATCH)
    assert _files_containing(docs, CANARY) == []
    assert _files_containing(docs, "937.25") == []
    assert _files_containing(docs, "pandas_data_fingerprint") == []


def test_exception_messages_quoting_data_are_withheld(
    catalogue, tmp_path, monkeypatch, raw_gx_results
) -> None:
    # A value shaped like a class name, on the last line of a message: no place in a
    # traceback may be mistaken for the class.
    planted = "CANARY_9f3a_status"

    def quoting_isin(self, values):
        # What a failing comparison could say: the offending value itself.
        raise ValueError(f"cannot compare {CANARY}:\n{self.iloc[0]}")

    monkeypatch.setattr(pd.Series, "isin", quoting_isin)
    visits = clean_rows("visits")
    visits[0]["status"] = planted
    docs = tmp_path / "gx"
    results = by_id(
        run_gx_checks(
            clean_batches(visits=visits),
            checks=gx_checks(catalogue, "visits"),
            data_docs_dir=docs,
        )
    )
    result = results.pop("batch_visits_status_in_value_set")
    assert (result.status, result.rows_checked, result.error_class) == (
        "error",
        None,
        "MetricResolutionError",
    )
    assert {r.status for r in results.values()} == {"passed"}
    # GX itself copies the message (and a traceback quoting it) into the result ...
    assert any(planted in serialized for serialized in raw_gx_results)
    # ... which is withheld from our results and the Data Docs.
    assert "CANARY" not in repr(result)
    assert (docs / "index.html").is_file()
    (page,) = [p for p in docs.rglob("*.html") if "validations" in p.parts]
    assert "MetricResolutionError" in page.read_text(encoding="utf-8")
    assert _files_containing(docs, "CANARY") == []
    assert _files_containing(docs, "cannot compare") == []


def test_no_network_is_attempted(catalogue, tmp_path, monkeypatch) -> None:
    attempts: list[str] = []

    def refuse(name: str):
        def blocked(*args, **kwargs):
            attempts.append(name)
            raise OSError(f"network blocked in tests ({name})")

        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    results = run_gx_checks(clean_batches(), checks=catalogue, data_docs_dir=tmp_path / "gx")
    assert {r.status for r in results} == {"passed"}
    assert (tmp_path / "gx" / "index.html").is_file()
    assert attempts == []


def test_gx_import_and_run_attempt_no_network_in_a_fresh_process(tmp_path) -> None:
    # A fresh interpreter also covers what GX does while it is imported.
    script = f"""
import socket, sys
attempts = []
def blocked(*args, **kwargs):
    attempts.append(1)
    raise OSError("network blocked")
socket.socket.connect = socket.socket.connect_ex = blocked
socket.create_connection = socket.getaddrinfo = blocked
import os
from pathlib import Path
import pyarrow as pa
from expectations.checks import load_catalogue
from expectations.gx_suites import run_gx_checks
checks = [c for c in load_catalogue() if c.table == "visits"]
batch = pa.table({{"visit_id": ["v1"], "patient_id": ["p1"], "status": ["finished"],
                   "start_date": pa.array([None], pa.date32())}})
results = run_gx_checks({{"visits": batch}}, checks=checks, data_docs_dir=Path({str(tmp_path)!r}))
print(len(attempts), os.environ["GX_ANALYTICS_ENABLED"], sorted({{r.status for r in results}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "0 false ['failed', 'passed']"


def test_gx_results_are_recorded_like_sql_results(catalogue) -> None:
    visits = clean_rows("visits")
    visits[0]["status"] = CANARY
    batches = clean_batches(visits=visits)
    del batches["notes"]
    results = run_gx_checks(batches, checks=catalogue)
    with duckdb.connect() as con:
        record_results(con, RUN_ID, results)
        rows = con.execute(
            "SELECT check_id, status, severity, rows_checked, rows_violating, pct, "
            "threshold_pct, error_class FROM audit.check_results WHERE run_id = ?",
            [RUN_ID],
        ).fetchall()
    stored = {row[0]: row[1:] for row in rows}
    assert set(stored) == set(GX_CHECK_IDS)
    assert stored["batch_visits_status_in_value_set"] == ("failed", "fatal", 2, 1, 50.0, 0.0, None)
    assert stored["batch_notes_note_id_not_null"] == (
        "not_applicable",
        "fatal",
        0,
        0,
        None,
        0.0,
        None,
    )


def test_sql_runner_skips_gx_checks(catalogue, clean_warehouse, run_date) -> None:
    from expectations.checks import evaluate_sql_checks

    results = evaluate_sql_checks(clean_warehouse, checks=catalogue, run_date=run_date)
    assert [r.check_id for r in results] == [c.id for c in catalogue if c.kind == "sql"]


# ------------------------------------------------------------- the generator's exports, staged

MASTER_KEY = bytes(range(32))
RUN_DATE = dt.date(2026, 1, 1)


def deidentified_batch(export: SyntheticExport, folder: Path) -> dict[str, pa.Table]:
    """The export written as NDJSON, staged and de-identified by the flow's own functions."""
    write_export(export, "ndjson", folder / "inbox")
    keys = DeidKeys.from_master(MASTER_KEY)
    staged = [
        stage_file(found, lambda kind, raw_id: resource_pseudonym(keys, kind, "ehr", raw_id))
        for found in discover(folder / "inbox").files
    ]
    (folder / "vault").mkdir()
    views = {name: compile_view(view) for name, view in load_views().items()}
    context = DeidContext(keys=keys, run_date=RUN_DATE)
    return deidentified_tables(staged, context, views, None, folder / "vault").tables


@pytest.fixture(scope="session")
def paper_batch(tmp_path_factory) -> dict[str, pa.Table]:
    return deidentified_batch(generate("paper", seed=0), tmp_path_factory.mktemp("paper"))


@pytest.fixture(scope="session")
def defect_batch(tmp_path_factory) -> dict[str, pa.Table]:
    export = generate("paper", seed=0, defects=True)
    return deidentified_batch(export, tmp_path_factory.mktemp("defects"))


def test_clean_paper_export_passes_every_gx_check(catalogue, paper_batch) -> None:
    results = run_gx_checks(paper_batch, checks=catalogue)
    assert {r.status for r in results} == {"passed"}
    assert all(r.rows_checked for r in results)


def test_defect_export_is_caught_with_exact_counts(catalogue, defect_batch) -> None:
    results = run_gx_checks(defect_batch, checks=catalogue)
    failed = {r.check_id: r for r in results if r.status != "passed"}
    visits = defect_batch["visits"].num_rows
    observations = defect_batch["observations"].num_rows
    # required_binding_violation: one Encounter.status "done-ish".
    status = failed.pop("batch_visits_status_in_value_set")
    assert (status.status, status.severity, status.rows_violating, status.rows_checked) == (
        "failed",
        "fatal",
        1,
        visits,
    )
    # duplicate_identical: the same Encounter twice; both rows carry the key.
    repeated_visit = failed.pop("batch_visits_key_unique")
    assert (repeated_visit.status, repeated_visit.severity) == ("failed", "warning")
    assert (repeated_visit.rows_violating, repeated_visit.rows_checked) == (2, visits)
    # duplicate_conflicting: an Observation id reused with another value (one value per row).
    reused = failed.pop("batch_observations_key_unique")
    assert (reused.status, reused.severity) == ("failed", "warning")
    assert (reused.rows_violating, reused.rows_checked) == (2, observations)
    # The other planted faults are table-wide or study rules: the SQL checks' business.
    assert failed == {}


def test_staging_keeps_identical_duplicates_for_the_loader_to_collapse(defect_batch) -> None:
    visits = defect_batch["visits"].to_pandas()
    repeated = visits[visits.duplicated("visit_id", keep=False)]
    assert len(repeated) == 2
    view_columns = list(core_tables()["visits"].column_names)
    assert len(repeated[view_columns].drop_duplicates()) == 1  # identical content ...
    assert repeated["_source_line"].nunique() == 2  # ... from two lines of the file
