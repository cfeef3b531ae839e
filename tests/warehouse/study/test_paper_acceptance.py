"""Acceptance: the `paper` export gives the published numbers in NDJSON, Bundle and CSV alike.

The study tables are computed from the clinical content of the files only; the generator's
answer key serves to find each subject's pseudonym and what the definitions must give for it.
"""

from __future__ import annotations

import math
import re

import duckdb
import pytest

from warehouse.study import study_table_names

from .conftest import FORMATS

REASON_CLASSES = {
    "pain": "pain_fibromyalgia",
    "orthostatic": "orthostatic_intolerance",
    "other": "other",
    None: "not_documented",
}


def summary(study: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """measure -> (n, denominator, percent) for the rows without timepoint."""
    return {
        measure: (n, denominator, percent)
        for measure, n, denominator, percent in study.execute(
            "SELECT measure, n, denominator, percent FROM study.summary WHERE timepoint IS NULL"
        ).fetchall()
    }


def test_the_published_numbers(study):
    measures = summary(study)
    assert measures["patients"][0] == 29
    assert measures["reason_pain_fibromyalgia"] == (11, 18, 61.11)
    assert measures["reason_orthostatic_intolerance"] == (5, 18, 27.78)
    assert measures["reason_documented"] == (18, 29, 62.07)
    assert measures["pain_improved"] == (7, 29, 24.14)
    assert measures["initial_dose_standard"] == (25, 29, 86.21)
    assert measures["dose_increased"][0] == 11
    assert measures["side_effects"][0] == 5
    assert measures["side_effects_mild"][0] == 5


def test_no_compass31_comparison_is_significant(study):
    rows = study.execute(
        "SELECT comparison, score, n, p_student, p_paired, p_wilcoxon, note FROM study.tests"
    ).fetchall()
    assert {(comparison, score) for comparison, score, *_ in rows} == {
        (comparison, score)
        for comparison in ("initial_vs_prescription", "prescription_vs_followup")
        for score in ("total", "oi", "vm", "sm", "gi", "bl", "pm")
    }
    for comparison, score, n, *p_values, note in rows:
        assert n == 29, (comparison, score)
        assert note is None, (comparison, score, note)
        assert all(p > 0.05 for p in p_values), (comparison, score, p_values)


def test_build_counts_are_the_table_sizes(study, paper_warehouse):
    assert list(paper_warehouse.build_counts) == list(study_table_names())
    for table, count in paper_warehouse.build_counts.items():
        assert study.execute(f"SELECT count(*) FROM study.{table}").fetchall()[0][0] == count
    assert paper_warehouse.build_counts["cohort"] == 29
    assert paper_warehouse.build_counts["timepoints"] == 87


def test_the_cohort_is_the_planted_one(study, paper_export, paper_ids):
    cohort = {
        patient for (patient,) in study.execute("SELECT patient_id FROM study.cohort").fetchall()
    }
    planted = {paper_ids.patient(facts.patient_id) for facts in paper_export.answer_key.cohort}
    assert cohort == planted


def test_each_patient_as_the_definitions_say(study, paper_export, paper_ids):
    rows = study.execute(
        """
        SELECT c.patient_id, c.subtype, c.ldn_reason_class, c.ldn_reason_code,
               e.initial_daily_dose_mg, e.final_daily_dose_mg, e.dose_increased,
               o.pain_at_prescription, o.pain_at_follow_up, o.pain_improved, o.side_effect,
               s.initial_visit_id, s.prescription_visit_id, s.follow_up_visit_id,
               s.follow_up_days
        FROM study.cohort c
        JOIN study.ldn_exposure e USING (patient_id)
        JOIN study.outcomes o USING (patient_id)
        JOIN study.screening s USING (patient_id)
        """
    ).fetchall()
    found = {row[0]: row[1:] for row in rows}
    for facts in paper_export.answer_key.cohort:
        expected = (
            facts.subtype,
            REASON_CLASSES[facts.reason_class],
            facts.reason_code,
            facts.initial_daily_mg,
            facts.final_daily_mg,
            facts.dose_increased,
            facts.pain_at_prescription,
            facts.pain_at_follow_up,
            facts.pain_improved,
            facts.mild_side_effect,
            paper_ids.visit(facts.initial_visit_id),
            paper_ids.visit(facts.prescription_visit_id),
            paper_ids.visit(facts.follow_up_visit_id),
            facts.follow_up_days,
        )
        assert found[paper_ids.patient(facts.patient_id)] == expected, facts.patient_id
        assert 90 <= facts.follow_up_days <= 270


def test_timepoints_are_ordered_and_the_follow_up_in_its_window(study):
    rows = study.execute(
        """
        SELECT patient_id, list(days_from_prescription ORDER BY timepoint_number),
               list(timepoint ORDER BY timepoint_number)
        FROM study.timepoints GROUP BY patient_id
        """
    ).fetchall()
    assert len(rows) == 29
    for _, (initial, prescription, follow_up), names in rows:
        assert names == ["initial", "prescription", "follow_up"]
        assert initial < prescription == 0
        assert 90 <= follow_up <= 270


def test_every_timepoint_has_a_complete_compass31(study):
    rows = study.execute(
        "SELECT count(*), count(total), count(*) FILTER (WHERE link_method = 'encounter') "
        "FROM study.compass31_by_timepoint"
    ).fetchall()
    assert rows == [(87, 87, 87)]


DISTRACTOR_OUTCOMES = {
    # distractor class: (exclusion_reason, has naltrexone order, has LDN order)
    "dysautonomia_without_ldn": ("no_ldn_order", False, False),
    "naltrexone_50mg": ("no_dysautonomia", True, False),
    "dysautonomia_naltrexone_50mg": ("no_ldn_order", True, False),
    "naltrexone_above_ldn_dose": ("no_ldn_order", True, False),
    "ldn_compass_at_60_days_only": ("no_follow_up", True, True),
    "ldn_compass_at_300_days_only": ("no_follow_up", True, True),
    "ldn_window_visit_without_compass": ("no_follow_up", True, True),
    "ldn_no_follow_up": ("no_follow_up", True, True),
    "ldn_without_dysautonomia": ("no_dysautonomia", True, True),
}


@pytest.mark.parametrize("distractor", sorted(DISTRACTOR_OUTCOMES))
def test_distractors_are_screened_out_by_the_rule_they_break(
    study, paper_export, paper_ids, distractor
):
    subjects = [
        paper_ids.patient(raw_id)
        for raw_id, kind in paper_export.answer_key.distractors.items()
        if kind == distractor
    ]
    assert subjects
    reason, has_naltrexone, has_ldn = DISTRACTOR_OUTCOMES[distractor]
    for patient in subjects:
        row = study.execute(
            """
            SELECT exclusion_reason, naltrexone_orders > 0, ldn_orders > 0, included,
                   visits_in_window, visits_in_window_with_compass31
            FROM study.screening WHERE patient_id = ?
            """,
            [patient],
        ).fetchall()
        assert row[:1] and row[0][:4] == (reason, has_naltrexone, has_ldn, False), distractor
        if distractor == "ldn_window_visit_without_compass":
            assert row[0][4:] == (1, 0)  # seen at day 150 without a COMPASS-31
        if distractor in ("ldn_compass_at_60_days_only", "ldn_compass_at_300_days_only"):
            assert row[0][4:] == (0, 0)
        in_cohort = study.execute(
            "SELECT count(*) FROM study.cohort WHERE patient_id = ?", [patient]
        )
        assert in_cohort.fetchall() == [(0,)]


@pytest.mark.parametrize(
    ("distractor", "daily_dose", "why"),
    [
        ("naltrexone_50mg", 50.0, "daily dose above 5.0 mg"),
        ("dysautonomia_naltrexone_50mg", 50.0, "daily dose above 5.0 mg"),
        ("naltrexone_above_ldn_dose", 6.0, "daily dose above 5.0 mg"),
    ],
)
def test_naltrexone_above_the_ldn_dose_is_not_ldn(
    study, paper_export, paper_ids, distractor, daily_dose, why
):
    for raw_id, kind in paper_export.answer_key.distractors.items():
        if kind != distractor:
            continue
        orders = study.execute(
            "SELECT DISTINCT daily_dose_mg, is_ldn, not_ldn_reason FROM study.naltrexone_orders "
            "WHERE patient_id = ?",
            [paper_ids.patient(raw_id)],
        ).fetchall()
        assert orders == [(daily_dose, False, why)]


def _raw_cohort_charts(paper_export):
    """Per cohort patient: facts, LDN orders (id -> (authored day, daily mg)), adverse events,
    and the follow-up visit's day, all read from the generated resources (unshifted dates)."""
    charts = {chart.patient_id: chart.resources for chart in paper_export.patients}
    for facts in paper_export.answer_key.cohort:
        resources = charts[facts.patient_id]
        ldn = {}
        for r in resources:
            if r["resourceType"] == "MedicationRequest" and (
                r["medicationCodeableConcept"]["coding"][0]["code"] == "7243"
            ):
                dosage = r["dosageInstruction"][0]
                repeat = dosage["timing"]["repeat"]
                per_day = repeat["frequency"] * {"d": 1, "h": 24}[repeat["periodUnit"]]
                per_day /= repeat["period"]
                mg = dosage["doseAndRate"][0]["doseQuantity"]["value"] * per_day
                ldn[r["id"]] = (r["authoredOn"][:10], mg)
        events = [r for r in resources if r["resourceType"] == "AdverseEvent"]
        follow_up = next(
            r["period"]["start"][:10] for r in resources if r["id"] == facts.follow_up_visit_id
        )
        yield facts, ldn, events, follow_up


def test_side_effect_traps_are_left_out(study, paper_export, paper_ids):
    traps = {"other_drug": 0, "after_follow_up": 0}
    for facts, ldn, events, follow_up in _raw_cohort_charts(paper_export):
        counted = 0
        for event in events:
            suspect = event["suspectEntity"][0]["instance"]["reference"].split("/")[1]
            if suspect not in ldn:
                traps["other_drug"] += 1
            elif event["date"][:10] > follow_up:
                traps["after_follow_up"] += 1
            else:
                counted += 1
        found = study.execute(
            "SELECT side_effects FROM study.outcomes WHERE patient_id = ?",
            [paper_ids.patient(facts.patient_id)],
        ).fetchall()
        assert found == [(counted,)], facts.patient_id
        assert (counted > 0) == facts.mild_side_effect
    assert traps["other_drug"] >= 1 and traps["after_follow_up"] >= 1, traps


def test_dose_traps_do_not_count_as_increases(study, paper_export, paper_ids):
    increased = dict(
        study.execute("SELECT patient_id, dose_increased FROM study.ldn_exposure").fetchall()
    )
    traps = {"increase_after_follow_up": 0, "same_dose_refill": 0, "lower_final_dose": 0}
    for facts, ldn, _, follow_up in _raw_cohort_charts(paper_export):
        by_follow_up = sorted(order for order in ldn.values() if order[0] <= follow_up)
        later = [mg for day, mg in ldn.values() if day > follow_up]
        if any(mg > facts.final_daily_mg for mg in later):
            traps["increase_after_follow_up"] += 1
        if len(by_follow_up) > 1 and by_follow_up[-1][1] == facts.initial_daily_mg:
            traps["same_dose_refill"] += 1
        if facts.final_daily_mg < facts.initial_daily_mg:
            traps["lower_final_dose"] += 1
        assert increased[paper_ids.patient(facts.patient_id)] == facts.dose_increased
        assert facts.dose_increased == (by_follow_up[-1][1] > by_follow_up[0][1])
    assert all(count >= 1 for count in traps.values()), traps


SMALL_FIBER_CODES = ("G62.9", "G60.8", "G60.9")
LEGACY_POTS_CODES = ("I49.8", "R00.0")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _cohort_with_worded_condition(paper_export, codes: tuple[str, ...], wording: str) -> set:
    """Cohort patients (generator ids) whose chart codes one of ``codes`` with a clinician's
    wording (Condition.code.text) matching ``wording``, read from the generated resources."""
    charts = {chart.patient_id: chart.resources for chart in paper_export.patients}
    found = set()
    for facts in paper_export.answer_key.cohort:
        for resource in charts[facts.patient_id]:
            if resource["resourceType"] != "Condition":
                continue
            coding = resource["code"]["coding"][0]
            text = resource["code"].get("text") or ""
            if (coding["system"], coding["code"]) in {(ICD10CM, c) for c in codes} and re.search(
                wording, text, re.IGNORECASE
            ):
                found.add(facts.patient_id)
    return found


def test_small_fiber_neuropathy_is_the_qualifier_in_the_clinicians_term(
    study, paper_export, paper_ids
):
    expected = _cohort_with_worded_condition(
        paper_export, SMALL_FIBER_CODES, r"small[- ]?fib(er|re)"
    )
    assert len(expected) == 12  # the seed-0 paper charts: 12 of 29 carry the qualifier
    flagged = {
        patient
        for (patient,) in study.execute(
            "SELECT patient_id FROM study.cohort WHERE small_fiber_neuropathy"
        ).fetchall()
    }
    assert flagged == {paper_ids.patient(raw) for raw in expected}
    measure = summary(study)["comorbidity_small_fiber_neuropathy"]
    assert measure[:2] == (12, 29)


def test_the_clinicians_term_is_kept_only_as_a_listed_term(study):
    kept = dict(
        study.execute(
            "SELECT code_text, count(*) FROM core.conditions WHERE code_text IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    assert set(kept) == {
        "Small fiber neuropathy",
        "Postural orthostatic tachycardia syndrome (POTS)",
    }


def test_legacy_pots_is_pots_through_the_clinicians_term(study, paper_export, paper_ids):
    legacy = _cohort_with_worded_condition(
        paper_export, LEGACY_POTS_CODES, r"postural orthostatic tachycardia|\bPOTS\b"
    )
    assert len(legacy) == 9
    # the legacy diagnosis alone makes the patient POTS, whatever the later G90.A recode does
    matched = {
        patient
        for (patient,) in study.execute(
            """
            SELECT DISTINCT c.patient_id
            FROM core.conditions AS c
            JOIN study.config_codes AS k
                ON k.list_name = 'dysautonomia_pots' AND k.system = c.code_system
                AND study.condition_matches(
                    c.code, c.display, c.code_text, k.code, k.match, k.display_pattern
                )
            WHERE c.code IN ('I49.8', 'R00.0')
            """
        ).fetchall()
    }
    assert {paper_ids.patient(raw) for raw in legacy} <= matched


def test_the_three_formats_give_the_same_study(paper_warehouse_factory):
    tables = [t for t in study_table_names() if t not in ("config_parameters",)]
    contents = {}
    for fmt in FORMATS:
        con = duckdb.connect(str(paper_warehouse_factory(fmt).path), read_only=True)
        try:
            contents[fmt] = {
                table: con.execute(f"SELECT * FROM study.{table} ORDER BY ALL").fetchall()
                for table in tables
            }
        finally:
            con.close()
    for table in tables:
        for fmt in FORMATS[1:]:
            assert _close(contents[fmt][table], contents["ndjson"][table]), (fmt, table)


def _close(left: list[tuple], right: list[tuple]) -> bool:
    """Rows equal, floats to 1e-9 (scipy may differ in the last bits across input orders)."""
    if len(left) != len(right):
        return False
    for row_left, row_right in zip(left, right, strict=True):
        for a, b in zip(row_left, row_right, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif a != b:
                return False
    return True
