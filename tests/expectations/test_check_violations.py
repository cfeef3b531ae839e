"""audit.check_violations: the offending keys of failed SQL checks, pseudonymous ids only."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from expectations.checks import (
    MAX_VIOLATING_KEYS,
    CheckResult,
    KeyColumnError,
    allowed_key_columns,
    load_catalogue,
    record_results,
    run_sql_checks,
    stored_violations,
)
from flows.cli import app
from warehouse import open_warehouse

from .helpers import ALLOWED_KEY_COLUMNS, RUN_ID, clone, insert

runner = CliRunner()


def _stored(con: duckdb.DuckDBPyConnection, run_id: str = RUN_ID) -> dict[str, list]:
    """Check id -> its stored keys as parsed JSON objects, in row_number order."""
    stored: dict[str, list] = {}
    for check_id, number, key_json in con.execute(
        "SELECT check_id, row_number, key_json FROM audit.check_violations WHERE run_id = ? "
        "ORDER BY check_id, row_number",
        [run_id],
    ).fetchall():
        stored.setdefault(check_id, []).append(json.loads(key_json))
        assert number == len(stored[check_id])  # numbered 1.. without gaps
    return stored


def _plant_orphan_med_and_bad_answers(con: duckdb.DuckDBPyConnection) -> None:
    clone(con, "meds", "m1", med_id="m-orphan", visit_id="v-dangling")  # fk_meds_visit
    for link_id, index, code in [("q2", 0, "5"), ("q6", 2, "3")]:  # compass31 answer codes
        insert(
            con,
            "questionnaire_items",
            {"response_id": "r1", "link_id": link_id, "answer_index": index, "answer_code": code},
        )


def test_failed_checks_store_their_keys_and_passed_ones_none(clean_warehouse, run_date) -> None:
    _plant_orphan_med_and_bad_answers(clean_warehouse)
    results = run_sql_checks(clean_warehouse, RUN_ID, run_date=run_date)

    failed = {r.check_id for r in results if r.status == "failed"}
    assert failed == {"fk_meds_visit", "conformance_compass31_answer_codes"}
    # Pseudonyms as text, indexes as numbers; never the link_id or the answer code.
    assert _stored(clean_warehouse) == {
        "fk_meds_visit": [{"med_id": "m-orphan"}],
        "conformance_compass31_answer_codes": [
            {"response_id": "r1", "answer_index": 0},
            {"response_id": "r1", "answer_index": 2},
        ],
    }
    raw = clean_warehouse.execute("SELECT string_agg(key_json, ' ') FROM audit.check_violations")
    assert not {"q2", "q6", "5", "3", "v-dangling"} & set(
        raw.fetchall()[0][0].replace('"', " ").replace(",", " ").split()
    )
    assert stored_violations(clean_warehouse, RUN_ID, "conformance_compass31_answer_codes") == (
        ("response_id", "answer_index"),
        [("r1", 0), ("r1", 2)],
    )
    assert stored_violations(clean_warehouse, RUN_ID, "pk_meds") == ((), [])


def test_a_check_passing_within_its_threshold_stores_no_keys(
    catalogue, clean_warehouse, run_date
) -> None:
    clone(clean_warehouse, "meds", "m1", med_id="m-orphan", visit_id="v-dangling")
    check = next(c for c in catalogue if c.id == "fk_meds_visit")
    tolerant = dataclasses.replace(check, threshold_pct=100.0)
    (result,) = run_sql_checks(clean_warehouse, RUN_ID, checks=[tolerant], run_date=run_date)
    assert (result.status, result.violating_keys) == ("passed", (("m-orphan",),))
    assert _stored(clean_warehouse) == {}


def test_stored_keys_are_capped_and_sorted(catalogue, clean_warehouse, run_date) -> None:
    clean_warehouse.execute(
        "INSERT INTO core.patients SELECT patients.* REPLACE (printf('extra%03d', i) AS patient_id) "
        "FROM core.patients, range(150) AS t(i) WHERE patient_id = 'p1'"
    )
    check = next(c for c in catalogue if c.id == "completeness_patients_without_visit")
    (result,) = run_sql_checks(clean_warehouse, RUN_ID, checks=[check], run_date=run_date)
    assert (result.status, result.rows_violating) == ("failed", 150)
    stored = _stored(clean_warehouse)[check.id]
    assert len(stored) == MAX_VIOLATING_KEYS == 100
    assert stored == [{"patient_id": f"extra{i:03d}"} for i in range(100)]


def test_recording_again_replaces_the_keys_of_that_run_and_check(
    catalogue, clean_warehouse, run_date
) -> None:
    check = next(c for c in catalogue if c.id == "fk_meds_visit")
    clone(clean_warehouse, "meds", "m1", med_id="m-orphan", visit_id="v-dangling")
    run_sql_checks(clean_warehouse, "other-run", checks=[check], run_date=run_date)
    run_sql_checks(clean_warehouse, RUN_ID, checks=[check], run_date=run_date)
    run_sql_checks(clean_warehouse, RUN_ID, checks=[check], run_date=run_date)
    assert _stored(clean_warehouse) == {"fk_meds_visit": [{"med_id": "m-orphan"}]}

    clone(clean_warehouse, "meds", "m1", med_id="m-another", visit_id="v-dangling")
    run_sql_checks(clean_warehouse, RUN_ID, checks=[check], run_date=run_date)
    assert _stored(clean_warehouse)[check.id] == [{"med_id": "m-another"}, {"med_id": "m-orphan"}]

    # Fixed: the re-run passes and its keys are gone; the other run keeps its own.
    clean_warehouse.execute("DELETE FROM core.meds WHERE med_id IN ('m-orphan', 'm-another')")
    run_sql_checks(clean_warehouse, RUN_ID, checks=[check], run_date=run_date)
    assert _stored(clean_warehouse) == {}
    assert _stored(clean_warehouse, "other-run") == {"fk_meds_visit": [{"med_id": "m-orphan"}]}


def test_the_table_says_what_it_holds(clean_warehouse) -> None:
    record_results(clean_warehouse, RUN_ID, [])
    (comment,) = clean_warehouse.execute(
        "SELECT comment FROM duckdb_tables() "
        "WHERE schema_name = 'audit' AND table_name = 'check_violations'"
    ).fetchall()[0]
    assert "pseudonymous ids and positional indexes only, never values" in comment


def test_allowed_key_columns_are_the_pseudonyms_and_the_indexes() -> None:
    assert set(allowed_key_columns()) == ALLOWED_KEY_COLUMNS
    assert "link_id" not in allowed_key_columns()


def _temporary_check(tmp_path: Path, check_id: str, sql: str):
    """A one-entry catalogue in tmp_path whose SQL check returns ``sql``'s columns."""
    checks_dir = tmp_path / "checks"
    checks_dir.mkdir(exist_ok=True)
    (checks_dir / f"{check_id}.sql").write_text(sql + "\n", encoding="utf-8")
    entry = {
        "id": check_id,
        "table": "meds",
        "column": "dose_value",
        "description": "A planted check that returns more than keys.",
        "rationale": "Shows that the runner refuses it.",
        "kahn_context": "verification",
        "category": "plausibility",
        "subcategory": "atemporal",
        "severity": "warning",
        "threshold_pct": 0,
        "kind": "sql",
        "sql": f"{check_id}.sql",
        "denominator": "meds",
    }
    path = tmp_path / f"{check_id}.yaml"
    path.write_text(yaml.safe_dump({"checks": [entry]}), encoding="utf-8")
    (check,) = load_catalogue(path, checks_dir)
    return check


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("SELECT med_id, dose_value FROM meds", "dose_value"),  # a clinical value
        ("SELECT med_id, drug_name FROM meds", "drug_name"),  # a code and display
        ("SELECT response_id, link_id FROM questionnaire_items", "link_id"),  # an input string
        ("SELECT med_id, dose_value AS value_index FROM meds", "value_index (DOUBLE)"),
        ("SELECT CAST(dose_value AS VARCHAR) AS answer_index FROM meds", "answer_index (VARCHAR"),
    ],
)
def test_a_check_returning_other_columns_is_refused(
    sql, refused, tmp_path, clean_warehouse, run_date
) -> None:
    check = _temporary_check(tmp_path, "planted_value_check", sql)
    with pytest.raises(KeyColumnError, match="check 'planted_value_check' returns columns") as info:
        run_sql_checks(clean_warehouse, RUN_ID, checks=[check], run_date=run_date)
    assert refused in str(info.value)
    # Nothing recorded: neither the outcome nor any key (so no value reached the audit schema).
    assert clean_warehouse.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'audit' "
        "AND table_name = 'check_violations'"
    ).fetchall() == [(0,)]


def test_a_result_with_other_key_columns_is_not_recorded(clean_warehouse) -> None:
    result = CheckResult(
        "hand_made",
        "failed",
        "warning",
        2,
        1,
        50.0,
        0.0,
        key_columns=("med_id", "drug_name"),
        violating_keys=(("m1", "naltrexone 4.5 mg capsule"),),
    )
    with pytest.raises(KeyColumnError, match=r"check 'hand_made' returns columns .*drug_name"):
        record_results(clean_warehouse, RUN_ID, [result])
    assert clean_warehouse.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'audit' "
        "AND table_name IN ('check_results', 'check_violations')"
    ).fetchall() == [(0,)]


@pytest.fixture
def failed_run_warehouse(tmp_path, clean_template, run_date) -> Path:
    """A closed warehouse file whose run RUN_ID failed fk_meds_visit and the COMPASS-31 check."""
    path = tmp_path / "w.duckdb"
    shutil.copyfile(clean_template, path)
    with open_warehouse(path) as con:
        _plant_orphan_med_and_bad_answers(con)
        run_sql_checks(con, RUN_ID, run_date=run_date)
    return path


def test_report_keys_prints_the_stored_keys_of_one_check(failed_run_warehouse) -> None:
    args = ["report", "--warehouse", str(failed_run_warehouse), RUN_ID]
    result = runner.invoke(app, [*args, "--keys", "conformance_compass31_answer_codes"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "check conformance_compass31_answer_codes in run run-test: failed, 2 of 6 rows" in (
        result.output
    )
    header = next(line for line in lines if "response_id" in line)
    assert "answer_index" in header
    rows = [line.split() for line in lines if " r1 " in line]
    assert [[cell for cell in row if cell not in "│┃|"] for row in rows] == [
        ["1", "r1", "0"],
        ["2", "r1", "2"],
    ]
    assert "q2" not in result.output and "q6" not in result.output

    result = runner.invoke(app, [*args, "--keys", "fk_meds_visit"])
    assert result.exit_code == 0, result.output
    assert "m-orphan" in result.output and "med_id" in result.output


def test_report_keys_of_a_passed_or_unknown_check(failed_run_warehouse) -> None:
    args = ["report", "--warehouse", str(failed_run_warehouse)]
    passed = runner.invoke(app, [*args, RUN_ID, "--keys", "pk_meds"])
    assert passed.exit_code == 0, passed.output
    assert "passed" in passed.output and "no keys stored" in passed.output

    unknown = runner.invoke(app, [*args, RUN_ID, "--keys", "no_such_check"])
    assert unknown.exit_code == 1
    assert "no result of check 'no_such_check'" in unknown.output

    without_run = runner.invoke(app, [*args, "--keys", "pk_meds"])
    assert without_run.exit_code == 2
    assert "--keys needs a RUN_ID" in without_run.output
