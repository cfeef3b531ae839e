"""Every SQL check passes on a clean chart and counts planted violations exactly."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import duckdb
import pytest

from expectations.checks import CheckResult, fatal_failures, run_sql_checks
from warehouse import core_tables

from .helpers import (
    ALLOWED_KEY_COLUMNS,
    CLEAN_CHART,
    RUN_ID,
    add_timepoint,
    clone,
    insert,
    stage_copy,
)

Plant = Callable[[duckdb.DuckDBPyConnection], None]
FUTURE = dt.date(2026, 6, 1)  # beyond run date 2025-01-01 + 365 days
NEAR_FUTURE = dt.date(2025, 12, 31)  # within the date-shift margin: not a violation

# First clean row of each table, the source of clones.
SOURCE_ROW = {table: str(next(iter(rows[0].values()))) for table, rows in CLEAN_CHART.items()}


def _plant_duplicate(table: str) -> Plant:
    def plant(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"INSERT INTO staged.{table} SELECT * FROM staged.{table} LIMIT 1")

    return plant


def _plant_orphans(table: str, column: str, required: bool) -> tuple[Plant, int]:
    key = core_tables()[table].key[0]

    def plant(con: duckdb.DuckDBPyConnection) -> None:
        overrides = {column: "dangling"} if column == key else {key: "x1", column: "dangling"}
        clone(con, table, SOURCE_ROW[table], **overrides)
        if column != key:
            # A missing reference: a violation only where the reference is required.
            clone(con, table, SOURCE_ROW[table], **{key: "x2", column: None})

    return plant, 2 if required and column != key else 1


def _methylnaltrexone(con: duckdb.DuckDBPyConnection, med_id: str, **overrides: object) -> None:
    # A different drug (a peripheral opioid antagonist for constipation) whose name contains
    # "naltrexone": the naltrexone checks must not judge it. No RxNorm code: the name decides.
    clone(
        con,
        "meds",
        "m1",
        med_id=med_id,
        rxnorm_code=None,
        drug_name="methylnaltrexone bromide 150 MG oral tablet",
        **overrides,
    )


def _plants() -> dict[str, tuple[Plant, int, str]]:
    """Check id -> (planting, expected violating rows, schema the check runs against)."""
    plants: dict[str, tuple[Plant, int, str]] = {
        f"pk_{table}": (_plant_duplicate(table), 1, "staged") for table in core_tables()
    }
    for check_id, table, column, required in [
        ("fk_visits_patient", "visits", "patient_id", True),
        ("fk_conditions_patient", "conditions", "patient_id", True),
        ("fk_conditions_visit", "conditions", "visit_id", False),
        ("fk_meds_patient", "meds", "patient_id", True),
        ("fk_meds_visit", "meds", "visit_id", False),
        ("fk_observations_patient", "observations", "patient_id", True),
        ("fk_observations_visit", "observations", "visit_id", False),
        ("fk_questionnaire_responses_patient", "questionnaire_responses", "patient_id", True),
        ("fk_questionnaire_responses_visit", "questionnaire_responses", "visit_id", False),
        ("fk_questionnaire_items_response", "questionnaire_items", "response_id", True),
        ("fk_adverse_events_patient", "adverse_events", "patient_id", True),
        ("fk_adverse_events_suspect_med", "adverse_events", "suspect_med_id", False),
        ("fk_notes_patient", "notes", "patient_id", True),
    ]:
        plants[check_id] = (*_plant_orphans(table, column, required), "core")

    def visits(con: duckdb.DuckDBPyConnection, **dates: dt.date) -> None:
        # Keyword names only label the dates for the reader; ids follow the clean v1, v2.
        for number, date in enumerate(dates.values(), start=3):
            clone(con, "visits", "v1", visit_id=f"v{number}", start_date=date, end_date=date)

    plants.update(
        {
            "completeness_patients_without_visit": (
                lambda con: insert(con, "patients", {"patient_id": "p3", "birth_year": 1970}),
                1,
                "core",
            ),
            "completeness_questionnaire_responses_without_items": (
                lambda con: clone(con, "questionnaire_responses", "r1", response_id="r2"),
                1,
                "core",
            ),
            "completeness_naltrexone_dose": (
                lambda con: (
                    clone(con, "meds", "m1", med_id="m3", dose_value=None),
                    clone(con, "meds", "m2", med_id="m4", dose_value=None),  # not naltrexone
                    _methylnaltrexone(con, "m5", dose_value=None),  # another drug
                ),
                1,
                "core",
            ),
            "plausibility_visits_start_after_birth": (
                # p1 was born in 1980: 1975 is impossible, 1979 is within the shift margin.
                lambda con: visits(con, bad=dt.date(1975, 6, 1), margin=dt.date(1979, 3, 1)),
                1,
                "core",
            ),
            "plausibility_visits_end_after_start": (
                lambda con: clone(con, "visits", "v1", visit_id="v3", end_date=dt.date(2020, 1, 9)),
                1,
                "core",
            ),
            "plausibility_visits_not_future": (
                lambda con: visits(con, bad=FUTURE, margin=NEAR_FUTURE),
                1,
                "core",
            ),
            "plausibility_meds_not_future": (
                lambda con: (
                    clone(con, "meds", "m1", med_id="m3", authored_date=FUTURE),
                    clone(con, "meds", "m1", med_id="m4", authored_date=NEAR_FUTURE),
                ),
                1,
                "core",
            ),
            "plausibility_observations_not_future": (
                lambda con: clone(
                    con, "observations", "o1", observation_id="o3", effective_date=FUTURE
                ),
                1,
                "core",
            ),
            "plausibility_questionnaire_responses_not_future": (
                lambda con: clone(
                    con, "questionnaire_responses", "r1", response_id="r2", authored_date=FUTURE
                ),
                1,
                "core",
            ),
            "plausibility_naltrexone_dose_range": (
                lambda con: (
                    clone(con, "meds", "m1", med_id="m3", dose_value=100.0),
                    clone(con, "meds", "m1", med_id="m4", dose_value=1500.0, dose_unit="ug"),
                    clone(con, "meds", "m2", med_id="m5", dose_value=100.0),  # not naltrexone
                    _methylnaltrexone(con, "m6", dose_value=150.0),  # another drug (150 mg tablets)
                ),
                2,
                "core",
            ),
            "plausibility_pain_score_range": (
                lambda con: (
                    clone(con, "observations", "o1", observation_id="o3", value_num=11.0),
                    clone(con, "observations", "o1", observation_id="o4", value_num=-1.0),
                    clone(con, "observations", "o2", observation_id="o5", value_num=11.0),
                ),
                2,
                "core",
            ),
            "plausibility_visits_before_death": (
                lambda con: con.execute(
                    # p1's visit is on 2020-01-10: a day after death; p2 dies on its visit day
                    "UPDATE core.patients SET deceased_date = CASE patient_id "
                    "WHEN 'p1' THEN DATE '2020-01-09' ELSE DATE '2021-05-01' END"
                ),
                1,
                "core",
            ),
            "plausibility_meds_end_after_start": (
                lambda con: (
                    clone(
                        con,
                        "meds",
                        "m1",
                        med_id="m3",
                        start_date=dt.date(2020, 1, 10),
                        end_date=dt.date(2020, 1, 9),
                    ),
                    clone(  # a one-day order is fine
                        con,
                        "meds",
                        "m1",
                        med_id="m4",
                        start_date=dt.date(2020, 1, 10),
                        end_date=dt.date(2020, 1, 10),
                    ),
                ),
                1,
                "core",
            ),
            "plausibility_follow_up_after_prescription": (
                lambda con: [
                    add_timepoint(con, patient, timepoint, day)
                    for patient, timepoint, day in [
                        ("p2", "prescription", dt.date(2021, 5, 1)),
                        ("p2", "follow_up", dt.date(2021, 4, 1)),  # before the prescription
                        ("p3", "prescription", dt.date(2021, 1, 1)),
                        ("p3", "follow_up", dt.date(2021, 9, 29)),  # day 271: outside
                        ("p4", "prescription", dt.date(2021, 1, 1)),
                        ("p4", "follow_up", dt.date(2021, 9, 28)),  # day 270: inside
                    ]
                ],
                2,
                "core",
            ),
            "conformance_compass31_answer_codes": (
                lambda con: [
                    insert(
                        con,
                        "questionnaire_items",
                        {"response_id": "r1", "link_id": link, "answer_index": i, "answer_code": c},
                    )
                    # q2 has 4 options; q6 codes are 0-2; q32 does not exist; "x" is no code.
                    for link, i, c in [
                        ("q2", 0, "5"),
                        ("q6", 2, "3"),
                        ("q32", 0, "1"),
                        ("q3", 0, "x"),
                    ]
                ],
                4,
                "core",
            ),
        }
    )
    return plants


PLANTS = _plants()


def _by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.check_id: result for result in results}


def test_every_check_has_a_planted_violation(catalogue) -> None:
    # The gx checks have theirs in test_gx_suites.py.
    assert {check.id for check in catalogue if check.kind == "sql"} == set(PLANTS)


def test_clean_chart_passes_every_check(clean_warehouse, run_date) -> None:
    results = run_sql_checks(clean_warehouse, RUN_ID, run_date=run_date)
    assert {r.check_id: r.status for r in results} == {r.check_id: "passed" for r in results}
    assert all(r.rows_checked and r.rows_violating == 0 for r in results)
    assert fatal_failures(results) == []


def test_clean_staged_copy_passes_every_check(clean_warehouse, run_date) -> None:
    stage_copy(clean_warehouse)
    results = run_sql_checks(clean_warehouse, RUN_ID, schema="staged", run_date=run_date)
    assert {r.status for r in results} == {"passed"}


@pytest.mark.parametrize("check_id", sorted(PLANTS))
def test_planted_violation_is_caught(check_id, catalogue, clean_warehouse, run_date) -> None:
    plant, expected, schema = PLANTS[check_id]
    if schema != "core":
        stage_copy(clean_warehouse, schema)
    plant(clean_warehouse)
    check = next(check for check in catalogue if check.id == check_id)
    (result,) = run_sql_checks(
        clean_warehouse, RUN_ID, checks=[check], schema=schema, run_date=run_date
    )
    assert result.status == "failed"
    assert result.rows_violating == expected
    assert len(result.violating_keys) == expected
    assert result.pct == pytest.approx(100 * expected / result.rows_checked)
    # Keys only: pseudonymous ids and positional key parts, never a clinical value.
    assert set(result.key_columns) <= ALLOWED_KEY_COLUMNS
    assert (fatal_failures([result]) == [result]) == (check.severity == "fatal")


def test_denominator_is_the_rows_in_scope(catalogue, clean_warehouse, run_date) -> None:
    plant, _, _ = PLANTS["plausibility_pain_score_range"]
    plant(clean_warehouse)
    results = _by_id(run_sql_checks(clean_warehouse, RUN_ID, run_date=run_date))
    # Four pain scores (o1, o3, o4; o5 has another code): two out of range.
    pain = results["plausibility_pain_score_range"]
    assert (pain.rows_checked, pain.rows_violating, pain.pct) == (3, 2, pytest.approx(200 / 3))
    assert pain.violating_keys == (("o3", "0"), ("o4", "0"))


def test_methylnaltrexone_is_not_judged_as_naltrexone(catalogue, clean_warehouse, run_date) -> None:
    # Without a dose and with a dose far above the naltrexone range: neither is a violation, and
    # neither is counted among the naltrexone orders (only m1 is).
    _methylnaltrexone(clean_warehouse, "m3", dose_value=None)
    _methylnaltrexone(clean_warehouse, "m4", dose_value=150.0)
    clone(clean_warehouse, "meds", "m1", med_id="m5", rxnorm_code=None)  # naltrexone by name
    checks = [c for c in catalogue if "naltrexone" in c.id]
    results = _by_id(run_sql_checks(clean_warehouse, RUN_ID, checks=checks, run_date=run_date))
    assert {
        check_id: (r.status, r.rows_checked, r.rows_violating) for check_id, r in results.items()
    } == {
        "completeness_naltrexone_dose": ("passed", 2, 0),
        "plausibility_naltrexone_dose_range": ("passed", 2, 0),
    }


def test_outputs_hold_no_clinical_values(clean_warehouse, run_date) -> None:
    # The checks that read clinical values, planted together (their clone ids do not collide).
    for check_id in (
        "plausibility_naltrexone_dose_range",
        "plausibility_pain_score_range",
        "conformance_compass31_answer_codes",
        "plausibility_visits_start_after_birth",
    ):
        PLANTS[check_id][0](clean_warehouse)
    results = run_sql_checks(clean_warehouse, RUN_ID, run_date=run_date)
    planted_values = {"100.0", "1500.0", "11.0", "-1.0", "5", "3", "x", "ug", "1975-06-01"}
    returned = {value for r in results for key in r.violating_keys for value in key}
    assert returned and not returned & planted_values
    assert all(set(r.key_columns) <= ALLOWED_KEY_COLUMNS for r in results)


def test_violating_keys_are_capped(catalogue, clean_warehouse, run_date) -> None:
    clean_warehouse.execute(
        "INSERT INTO core.patients SELECT patients.* REPLACE ('extra' || i AS patient_id) "
        "FROM core.patients, range(150) AS t(i) WHERE patient_id = 'p1'"
    )
    check = next(c for c in catalogue if c.id == "completeness_patients_without_visit")
    (result,) = run_sql_checks(clean_warehouse, RUN_ID, checks=[check], run_date=run_date)
    assert result.rows_violating == 150
    assert len(result.violating_keys) == 100


def test_empty_tables_are_not_applicable(empty_warehouse) -> None:
    results = run_sql_checks(empty_warehouse, RUN_ID)
    assert {r.status for r in results} == {"not_applicable"}
    assert all(r.rows_checked == 0 and r.pct is None for r in results)
    assert fatal_failures(results) == []


def test_results_are_written_to_audit(catalogue, clean_warehouse, run_date) -> None:
    PLANTS["fk_meds_visit"][0](clean_warehouse)
    run_sql_checks(clean_warehouse, RUN_ID, run_date=run_date)
    # A re-run of the same run id replaces its rows instead of adding to them.
    run_sql_checks(clean_warehouse, RUN_ID, run_date=run_date)
    rows = clean_warehouse.execute(
        "SELECT check_id, status, severity, rows_checked, rows_violating, pct, threshold_pct, "
        "error_class FROM audit.check_results WHERE run_id = ? ORDER BY check_id",
        [RUN_ID],
    ).fetchall()
    assert [row[0] for row in rows] == sorted(c.id for c in catalogue if c.kind == "sql")
    by_id = {row[0]: row[1:] for row in rows}
    assert by_id["fk_meds_visit"] == ("failed", "fatal", 4, 1, 25.0, 0.0, None)
    assert by_id["pk_meds"] == ("passed", "fatal", 4, 0, 0.0, 0.0, None)


def test_search_path_and_run_date_are_restored(clean_warehouse, run_date) -> None:
    clean_warehouse.execute("SET search_path = 'audit'")
    run_sql_checks(clean_warehouse, RUN_ID, run_date=run_date)
    assert clean_warehouse.execute("SELECT current_setting('search_path')").fetchall() == [
        ("audit",)
    ]
    assert clean_warehouse.execute("SELECT getvariable('run_date')").fetchall() == [(None,)]


def test_failing_sql_is_an_error_without_its_message(
    catalogue, clean_warehouse, tmp_path, run_date
) -> None:
    (tmp_path / "broken.sql").write_text("SELECT no_such_column FROM patients\n")
    check = dataclasses.replace(
        next(c for c in catalogue if c.id == "pk_patients"),
        id="broken",
        sql="broken.sql",
        denominator="patients",
        checks_dir=tmp_path,
    )
    (result,) = run_sql_checks(clean_warehouse, RUN_ID, checks=[check], run_date=run_date)
    assert (result.status, result.rows_checked, result.rows_violating) == ("error", None, None)
    assert result.error_class == "BinderException"
    assert result.violating_keys == ()
    assert fatal_failures([result]) == [result]
    stored = clean_warehouse.execute(
        "SELECT status, error_class FROM audit.check_results WHERE check_id = 'broken'"
    ).fetchall()
    assert stored == [("error", "BinderException")]


def test_fatal_failures_keeps_fatal_failed_and_errored_only() -> None:
    def result(check_id: str, status: str, severity: str) -> CheckResult:
        return CheckResult(check_id, status, severity, 1, 0, 0.0, 0.0)

    results = [
        result("a", "failed", "fatal"),
        result("b", "error", "fatal"),
        result("c", "passed", "fatal"),
        result("d", "not_applicable", "fatal"),
        result("e", "failed", "warning"),
        result("f", "error", "warning"),
    ]
    assert [r.check_id for r in fatal_failures(results)] == ["a", "b"]
