"""Each study model on tiny hand-built core tables: the definitions at their edges."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import yaml

from warehouse.study import DEFAULT_CONFIG, StudyConfig, build_study, study_config_from_mapping

from .helpers import CANONICAL, Chart, LdnPatient, bladder_answers, day


def screening(con, patient_id: str) -> dict:
    cursor = con.execute("SELECT * FROM study.screening WHERE patient_id = ?", [patient_id])
    names = [column[0] for column in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def one(con, sql: str, *parameters):
    rows = con.execute(sql, list(parameters)).fetchall()
    assert len(rows) == 1, rows
    return rows[0] if len(rows[0]) > 1 else rows[0][0]


def config_with(change: Callable[[dict], None]) -> StudyConfig:
    """The shipped config with `change` applied to its parsed YAML."""
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8")))
    change(data)
    return study_config_from_mapping(data)


# ------------------------------------------------------------------------------- inclusion


@pytest.mark.parametrize(("days", "included"), [(89, False), (90, True), (270, True), (271, False)])
def test_follow_up_window_edges(writer, rows, days, included):
    patient = LdnPatient(rows, follow_up_days=days)
    build_study(writer)
    row = screening(writer, patient.patient_id)
    assert row["included"] is included
    if included:
        assert (row["follow_up_visit_id"], row["follow_up_days"]) == (patient.follow_up, days)
    else:
        assert (row["exclusion_reason"], row["follow_up_visit_id"]) == ("no_follow_up", None)


def test_the_first_window_visit_with_a_compass31_is_the_follow_up(writer, rows):
    patient = LdnPatient(rows, follow_up_days=200)
    patient.visit(60 + 100)  # in the window, no COMPASS-31
    later = patient.visit(60 + 250)
    patient.compass(60 + 250, visit_id=later)
    general = patient.visit(60 + 150, service="general")  # not the autonomic service
    patient.compass(60 + 150, visit_id=general)
    build_study(writer)
    row = screening(writer, patient.patient_id)
    assert (row["follow_up_visit_id"], row["follow_up_days"]) == (patient.follow_up, 200)
    assert (row["visits_in_window"], row["visits_in_window_with_compass31"]) == (3, 2)


def test_an_entered_in_error_compass31_does_not_make_a_follow_up(writer, rows):
    patient = LdnPatient(rows, follow_up_days=300)
    visit = patient.visit(60 + 120)
    patient.compass(60 + 120, visit_id=visit, status="entered-in-error")
    build_study(writer)
    assert screening(writer, patient.patient_id)["exclusion_reason"] == "no_follow_up"


def test_inclusion_rules_in_order(writer, rows):
    without_diagnosis = LdnPatient(rows, diagnosis="R42")
    refuted = Chart(rows)
    refuted.condition("G90.9", verification="refuted")
    refuted.order(0, 1, visit_id=refuted.visit(0))
    tablets = Chart(rows)
    tablets.condition("G90.A")
    tablets.order(
        0, 50, visit_id=tablets.visit(0), rxnorm="1483744", name="naltrexone 50 MG Oral Tablet"
    )
    diagnosis_only = Chart(rows)
    diagnosis_only.condition("G25.82")
    build_study(writer)
    assert screening(writer, without_diagnosis.patient_id)["exclusion_reason"] == "no_dysautonomia"
    assert screening(writer, refuted.patient_id)["exclusion_reason"] == "no_dysautonomia"
    row = screening(writer, tablets.patient_id)
    assert (row["exclusion_reason"], row["naltrexone_orders"], row["ldn_orders"]) == (
        "no_ldn_order",
        1,
        0,
    )
    row = screening(writer, diagnosis_only.patient_id)
    assert (row["exclusion_reason"], row["subtype"]) == ("no_ldn_order", "stiff_person")
    assert one(writer, "SELECT count(*) FROM study.cohort") == 0


@pytest.mark.parametrize(
    ("codes", "subtype"),
    [
        ((("G90.9", None),), "general"),
        ((("G90.8", None), ("G90.A", None)), "pots"),
        ((("G90.A", None), ("G25.82", None)), "stiff_person"),
        ((("I49.8", "Postural orthostatic tachycardia syndrome (POTS)"),), "pots"),
        ((("R00.0", "Tachycardia, unspecified"), ("G90.9", None)), "general"),
    ],
)
def test_subtype(writer, rows, codes, subtype):
    patient = LdnPatient(rows, diagnosis=codes[0][0])
    writer.execute(
        "UPDATE core.conditions SET display = ? WHERE patient_id = ?",
        [codes[0][1], patient.patient_id],
    )
    for code, display in codes[1:]:
        patient.condition(code, display=display)
    build_study(writer)
    assert one(writer, "SELECT subtype FROM study.cohort") == subtype


def test_legacy_pots_code_without_pots_text_is_no_dysautonomia(writer, rows):
    patient = LdnPatient(rows, diagnosis="R00.0")
    build_study(writer)
    assert screening(writer, patient.patient_id)["exclusion_reason"] == "no_dysautonomia"


@pytest.mark.parametrize(
    ("code", "display", "code_text", "subtype"),
    [
        # legacy POTS, the wording only in the clinician's term, and no G90.A recode
        ("I49.8", "Other specified cardiac arrhythmias", "Postural orthostatic tachycardia syndrome (POTS)", "pots"),
        ("R00.0", "Tachycardia, unspecified", "Postural orthostatic tachycardia syndrome (POTS)", "pots"),
        # a listed term that is not POTS: no dysautonomia
        ("R00.0", "Tachycardia, unspecified", "Orthostatic intolerance", None),
        # no term (a wording not on the term list is NULL): no POTS
        ("I49.8", "Other specified cardiac arrhythmias", None, None),
    ],
)  # fmt: skip
def test_legacy_pots_wording_in_the_clinicians_term(
    writer, rows, code, display, code_text, subtype
):
    patient = LdnPatient(rows, diagnosis=code)
    writer.execute(
        "UPDATE core.conditions SET display = ?, code_text = ? WHERE patient_id = ?",
        [display, code_text, patient.patient_id],
    )
    build_study(writer)
    row = screening(writer, patient.patient_id)
    assert row["subtype"] == subtype
    assert row["exclusion_reason"] == (None if subtype else "no_dysautonomia")


def test_initial_visit_is_the_first_autonomic_visit(writer, rows):
    patient = LdnPatient(rows)
    patient.visit(-30, service="general")
    earlier = patient.visit(-10)
    build_study(writer)
    assert one(
        writer,
        "SELECT visit_id, days_from_prescription FROM study.timepoints WHERE timepoint = 'initial'",
    ) == (earlier, -70)


# ------------------------------------------------------------------------ COMPASS-31 links


def test_encounter_link_beats_date_match(writer, rows):
    patient = LdnPatient(rows)
    other = patient.visit(200)
    # References the follow-up visit but was authored on the day of another visit.
    linked = patient.compass(200, visit_id=patient.follow_up)
    build_study(writer)
    assert one(
        writer,
        "SELECT visit_id, link_method FROM study.compass31_visits WHERE response_id = ?",
        linked,
    ) == (patient.follow_up, "encounter")
    assert one(writer, "SELECT count(*) FROM study.compass31_visits WHERE visit_id = ?", other) == 0


@pytest.mark.parametrize(("days", "linked"), [(-14, True), (14, True), (15, False), (-15, False)])
def test_date_match_window(writer, rows, days, linked):
    patient = LdnPatient(rows)
    visit = patient.visit(400)
    response = patient.compass(400 + days, visit_id=None)
    build_study(writer)
    expected = (visit, "date", days) if linked else (None, None, None)
    assert (
        one(
            writer,
            "SELECT visit_id, link_method, days_from_visit FROM study.compass31_visits WHERE response_id = ?",
            response,
        )
        == expected
    )


def test_a_reference_to_a_visit_not_in_the_warehouse_falls_back_to_the_date(writer, rows):
    patient = LdnPatient(rows)
    visit = patient.visit(400)
    response = patient.compass(403, visit_id="visit-not-exported")
    build_study(writer)
    assert one(
        writer,
        "SELECT visit_id, link_method FROM study.compass31_visits WHERE response_id = ?",
        response,
    ) == (visit, "date")


def test_a_date_matched_compass31_can_make_the_follow_up(writer, rows):
    patient = LdnPatient(rows, follow_up_days=300)
    visit = patient.visit(60 + 180)
    patient.compass(60 + 185, visit_id=None)
    build_study(writer)
    row = screening(writer, patient.patient_id)
    assert (row["follow_up_visit_id"], row["follow_up_days"]) == (visit, 180)


def test_the_timepoint_takes_the_encounter_linked_response(writer, rows):
    patient = LdnPatient(rows, answers=(bladder_answers(1), bladder_answers(1), bladder_answers(4)))
    patient.compass(60 + 120, visit_id=None, answers=bladder_answers(2))  # same day, date-linked
    build_study(writer)
    row = one(
        writer,
        "SELECT link_method, responses_at_visit, total, bl FROM study.compass31_by_timepoint "
        "WHERE timepoint = 'follow_up'",
    )
    assert row == ("encounter", 2, pytest.approx(10 / 3), pytest.approx(10 / 3))


def test_compass31_scores_cover_every_response_of_the_canonical(writer, rows):
    patient = Chart(rows)
    scored = patient.compass(0, answers=bladder_answers(3))
    versioned = patient.compass(1, questionnaire=f"{CANONICAL}|2.0")
    patient.compass(2, questionnaire="http://example.org/fhir/Questionnaire/phq-9")
    blank = patient.compass(3, answers={})
    missing_one = patient.compass(
        4, answers={k: v for k, v in bladder_answers(2).items() if k != 9}
    )
    build_study(writer)
    scores = {
        row[0]: row[1:]
        for row in writer.execute(
            "SELECT response_id, score_source, total, weighted_bl, raw_sm, incomplete, missing_items "
            "FROM study.compass31_scores"
        ).fetchall()
    }
    assert set(scores) == {scored, versioned, blank, missing_one}
    assert scores[scored][:5] == (
        "items",
        pytest.approx(20 / 9 * 1),
        pytest.approx(20 / 9),
        0,
        False,
    )
    assert scores[versioned][1] == 0
    assert scores[blank][:2] == ("no_items", None) and scores[blank][4]
    assert scores[missing_one][1:] == (None, pytest.approx(10 / 9), None, True, [9])


def test_a_reported_total_is_kept_and_flagged(writer, rows):
    patient = Chart(rows)
    response = patient.compass(0, answers={})
    rows.insert(
        "questionnaire_items",
        response_id=response,
        link_id="total",
        answer_index=0,
        answer_value=42.5,
    )
    build_study(writer)
    assert one(writer, "SELECT score_source, total, weighted_oi FROM study.compass31_scores") == (
        "reported_total",
        42.5,
        None,
    )


# ----------------------------------------------------------------------------------- doses


def test_initial_and_final_dose(writer, rows):
    patient = LdnPatient(rows, follow_up_days=120, dose=0.5, per_day=2)
    patient.order(90, 1.5, visit_id=patient.visit(90))
    patient.order(60 + 120, 2, visit_id=patient.follow_up)  # on the follow-up day: counts
    patient.order(60 + 121, 4.5)  # the day after: does not
    build_study(writer)
    row = one(
        writer,
        "SELECT initial_daily_dose_mg, initial_dose_is_standard, final_daily_dose_mg, "
        "dose_increased, ldn_orders, ldn_orders_by_follow_up FROM study.ldn_exposure",
    )
    assert row == (1.0, True, 2.0, True, 4, 3)


def test_an_increase_undone_before_the_follow_up_is_no_increase(writer, rows):
    patient = LdnPatient(rows)
    patient.order(80, 2)
    patient.order(100, 1)
    build_study(writer)
    assert one(writer, "SELECT final_daily_dose_mg, dose_increased FROM study.ldn_exposure") == (
        1.0,
        False,
    )


@pytest.mark.parametrize(
    ("order", "is_ldn", "why"),
    [
        ({"dose": 5, "per_day": 1}, True, None),
        ({"dose": 2.5, "per_day": 2}, True, None),
        ({"dose": 3, "per_day": 2}, False, "daily dose above 5.0 mg"),
        ({"dose": 50}, False, "daily dose above 5.0 mg"),
        ({"dose": None}, False, "no dose"),
        (
            {"dose": 1, "per_day": None},
            False,
            "no frequency (none assumed: assumed_frequency_per_day_when_missing is empty)",
        ),
        ({"dose": 1, "unit": "g"}, False, "dose unit g not accepted"),
        ({"dose": 1, "status": "entered-in-error"}, False, "order status entered-in-error"),
        ({"dose": 1, "rxnorm": None, "name": "Naltrexone HCl 1 mg capsule"}, True, None),
    ],
)
def test_which_naltrexone_orders_are_ldn(writer, rows, order, is_ldn, why):
    Chart(rows).order(0, **order)
    build_study(writer)
    assert one(writer, "SELECT is_ldn, not_ldn_reason FROM study.naltrexone_orders") == (
        is_ldn,
        why,
    )


@pytest.mark.parametrize(
    ("unit", "dose", "daily_dose"),
    [
        ("mg", 1.5, 1.5),
        ("MG", 1.5, 1.5),
        ("Mg", 1.5, 1.5),
        ("milligram", 1.5, 1.5),
        ("Milligrams", 1.5, 1.5),
        (" mg ", 1.5, 1.5),
        ("mcg", 1500, 1.5),
        ("ug", 1500, 1.5),
        ("UG", 1500, 1.5),
        ("\u00b5g", 1500, 1.5),  # micro sign
        ("\u03bcg", 1500, 1.5),  # Greek mu
        ("microgram", 4500, 4.5),
        ("micrograms", 50000, 50.0),
    ],
)
def test_dose_units_in_any_case_and_micrograms_in_mg(writer, rows, unit, dose, daily_dose):
    patient = LdnPatient(rows)
    writer.execute(
        "UPDATE core.meds SET dose_unit = ?, dose_value = ? WHERE med_id = ?",
        [unit, dose, patient.ldn],
    )
    build_study(writer)
    row = one(
        writer, "SELECT daily_dose_mg, is_ldn, daily_dose_unknown FROM study.naltrexone_orders"
    )
    assert row == (daily_dose, daily_dose <= 5, False)
    # An LDN order in MG or micrograms keeps the patient in the cohort.
    assert one(writer, "SELECT count(*) FROM study.cohort") == (1 if daily_dose <= 5 else 0)


@pytest.mark.parametrize("unit", ["g", "mgs", "mg/ml", "tablet", None])
def test_other_dose_units_are_not_accepted(writer, rows, unit):
    Chart(rows).order(0, 1, unit=unit)
    build_study(writer)
    assert one(
        writer,
        "SELECT daily_dose_mg, dose_unit_to_mg, daily_dose_unknown, not_ldn_reason "
        "FROM study.naltrexone_orders",
    ) == (None, None, True, f"dose unit {unit or 'missing'} not accepted")


def test_a_missing_frequency_is_assumed_only_when_the_study_says_so(writer, rows):
    patient = LdnPatient(rows)
    writer.execute("UPDATE core.meds SET frequency_per_day = NULL WHERE med_id = ?", [patient.ldn])
    above = Chart(rows).order(0, 6, per_day=None)
    build_study(writer)
    assert one(writer, "SELECT count(*) FROM study.cohort") == 0
    orders = {
        row[0]: row[1:]
        for row in writer.execute(
            "SELECT med_id, frequency_assumed, daily_dose_mg, is_ldn, not_ldn_reason "
            "FROM study.naltrexone_orders"
        ).fetchall()
    }
    none_assumed = "no frequency (none assumed: assumed_frequency_per_day_when_missing is empty)"
    assert orders == {
        patient.ldn: (False, None, False, none_assumed),
        above: (False, None, False, none_assumed),
    }
    once_daily = config_with(
        lambda d: d["parameters"].__setitem__("assumed_frequency_per_day_when_missing", 1)
    )
    build_study(writer, once_daily)
    assert one(writer, "SELECT patient_id FROM study.cohort") == patient.patient_id
    orders = {
        row[0]: row[1:]
        for row in writer.execute(
            "SELECT med_id, frequency_assumed, daily_dose_mg, is_ldn, not_ldn_reason "
            "FROM study.naltrexone_orders"
        ).fetchall()
    }
    assert orders == {
        patient.ldn: (True, 1.0, True, None),
        above: (True, 6.0, False, "daily dose above 5.0 mg (frequency assumed: 1.0 per day)"),
    }


def test_orders_without_a_daily_dose_are_counted_in_the_summary(writer, rows):
    LdnPatient(rows)
    build_study(writer)
    # the rows are always there, so a reader sees that nothing fell out
    assert writer.execute(
        "SELECT measure, n FROM study.summary WHERE section = 'data_quality' ORDER BY 1"
    ).fetchall() == [
        ("naltrexone_orders_without_daily_dose", 0),
        ("patients_no_ldn_with_order_without_daily_dose", 0),
    ]
    lost = LdnPatient(rows)  # LDN written as 1 "tablet": no daily dose, so no LDN order
    writer.execute("UPDATE core.meds SET dose_unit = 'tablet' WHERE med_id = ?", [lost.ldn])
    kept = LdnPatient(rows)  # a second, unusable order beside a valid LDN order
    kept.order(90, 1, per_day=None)
    no_diagnosis = Chart(rows)  # not a study patient, but its order is counted
    no_diagnosis.order(0, None)
    build_study(writer)
    assert screening(writer, lost.patient_id)["exclusion_reason"] == "no_ldn_order"
    measures = {
        row[0]: row[1:]
        for row in writer.execute(
            "SELECT measure, n, denominator, display FROM study.summary "
            "WHERE section = 'data_quality' ORDER BY measure_number"
        ).fetchall()
    }
    assert measures == {
        "naltrexone_orders_without_daily_dose": (3, 5, "60.00 % (3 of 5)"),
        "patients_no_ldn_with_order_without_daily_dose": (1, None, "1"),
    }


@pytest.mark.parametrize(
    "name",
    ["methylnaltrexone bromide 12 MG/0.6ML", "naltrexone / bupropion 8 MG/90 MG", "nalmefene"],
)
def test_other_drugs_are_no_naltrexone_orders(writer, rows, name):
    Chart(rows).order(0, 1, rxnorm="1234", name=name)
    build_study(writer)
    assert one(writer, "SELECT count(*) FROM study.naltrexone_orders") == 0


# ------------------------------------------------------------------------------ reasons


def test_reason_sources_and_classes(writer, rows):
    by_code = LdnPatient(rows, reason="M79.7")
    orthostatic = LdnPatient(rows, reason="R55")
    other = LdnPatient(rows, reason="R53.82")
    by_diagnosis = LdnPatient(rows)
    by_diagnosis.condition("I95.1", visit_id=by_diagnosis.prescription)
    by_diagnosis.condition("R53.82", visit_id=by_diagnosis.prescription)
    by_reference = LdnPatient(rows)
    condition = by_reference.condition("G89.29")
    writer.execute(
        "UPDATE core.meds SET reason_condition_id = ? WHERE med_id = ?",
        [condition, by_reference.ldn],
    )
    undocumented = LdnPatient(rows)
    undocumented.condition("M79.7")  # a comorbidity, not recorded at the prescription visit
    build_study(writer)
    found = {
        row[0]: row[1:]
        for row in writer.execute(
            "SELECT patient_id, ldn_reason_class, ldn_reason_source, ldn_reason_code FROM study.cohort"
        ).fetchall()
    }
    assert found == {
        by_code.patient_id: ("pain_fibromyalgia", "order_reason_code", "M79.7"),
        orthostatic.patient_id: ("orthostatic_intolerance", "order_reason_code", "R55"),
        other.patient_id: ("other", "order_reason_code", "R53.82"),
        by_diagnosis.patient_id: (
            "orthostatic_intolerance",
            "prescription_visit_diagnosis",
            "I95.1",
        ),
        by_reference.patient_id: ("pain_fibromyalgia", "order_reason_condition", "G89.29"),
        undocumented.patient_id: ("not_documented", None, None),
    }
    reasons = dict(
        writer.execute(
            "SELECT measure, display FROM study.summary WHERE section = 'reason'"
        ).fetchall()
    )
    assert reasons == {
        "reason_documented": "83.33 % (5 of 6)",
        "reason_pain_fibromyalgia": "40.00 % (2 of 5)",
        "reason_orthostatic_intolerance": "40.00 % (2 of 5)",
        "reason_other": "20.00 % (1 of 5)",
        "reason_not_documented": "16.67 % (1 of 6)",
    }


def test_comorbidities(writer, rows):
    patient = LdnPatient(rows)
    patient.condition("M79.7")
    patient.condition("G62.9", display="Polyneuropathy, unspecified")  # no small fiber qualifier
    patient.condition("Q79.62")
    patient.condition("G43.709")
    qualified = LdnPatient(rows)
    qualified.condition("G60.9", display="Small fiber neuropathy")
    qualified.condition("D89.40")
    qualified.condition("G89.4")
    build_study(writer)
    found = dict(writer.execute("SELECT patient_id, comorbidities FROM study.cohort").fetchall())
    assert found == {
        patient.patient_id: ["ehlers_danlos", "fibromyalgia", "migraine"],
        qualified.patient_id: ["chronic_pain", "mast_cell_activation", "small_fiber_neuropathy"],
    }
    assert one(
        writer,
        "SELECT small_fiber_neuropathy, ehlers_danlos FROM study.cohort WHERE patient_id = ?",
        qualified.patient_id,
    ) == (True, False)


def test_summary_comorbidities_come_from_the_config(writer, rows):
    patient = LdnPatient(rows)
    patient.condition("M10.9")
    patient.condition("M79.7")
    LdnPatient(rows)
    build_study(writer)
    shipped = writer.execute(
        "SELECT measure, label FROM study.summary WHERE section = 'comorbidities' "
        "ORDER BY measure_number"
    ).fetchall()
    assert shipped == [
        ("comorbidity_fibromyalgia", "comorbidity: fibromyalgia"),
        ("comorbidity_small_fiber_neuropathy", "comorbidity: small fiber neuropathy"),
        ("comorbidity_ehlers_danlos", "comorbidity: Ehlers-Danlos syndrome"),
        ("comorbidity_mast_cell_activation", "comorbidity: mast cell activation"),
        ("comorbidity_migraine", "comorbidity: migraine"),
        ("comorbidity_chronic_pain", "comorbidity: chronic pain"),
    ]

    def add_gout(data: dict) -> None:
        data["code_lists"]["comorbidity_gout"] = {
            "description": "Gout (M10.x).",
            "codes": [{"system": "icd10cm", "code": "M10", "match": "prefix"}],
        }

    build_study(writer, config_with(add_gout))
    rows_now = writer.execute(
        "SELECT measure, label, n, denominator FROM study.summary "
        "WHERE section = 'comorbidities' ORDER BY measure_number"
    ).fetchall()
    assert [row[:2] for row in rows_now] == [
        *shipped,
        ("comorbidity_gout", "comorbidity: Gout (M10.x)."),
    ]
    assert rows_now[-1][2:] == (1, 2) and rows_now[0][2:] == (1, 2)
    assert one(
        writer, "SELECT comorbidities FROM study.cohort WHERE patient_id = ?", patient.patient_id
    ) == ["fibromyalgia", "gout"]


def test_the_small_fiber_qualifier_in_the_clinicians_term(writer, rows):
    polyneuropathy = "Polyneuropathy, unspecified"
    in_term = LdnPatient(rows)
    in_term.condition("G62.9", display=polyneuropathy, code_text="Small fiber neuropathy")
    idiopathic = LdnPatient(rows)
    idiopathic.condition(
        "G60.8",
        display="Other hereditary and idiopathic neuropathies",
        code_text="Idiopathic small fiber neuropathy",
    )
    no_term = LdnPatient(rows)
    no_term.condition("G62.9", display=polyneuropathy)
    other_code = LdnPatient(rows)  # the qualifier on a code outside the list
    other_code.condition("M54.5", display="Low back pain", code_text="Small fiber neuropathy")
    build_study(writer)
    found = dict(
        writer.execute("SELECT patient_id, small_fiber_neuropathy FROM study.cohort").fetchall()
    )
    assert found == {
        in_term.patient_id: True,
        idiopathic.patient_id: True,
        no_term.patient_id: False,
        other_code.patient_id: False,
    }


# ------------------------------------------------------------------------------ outcomes


@pytest.mark.parametrize(
    ("before", "after", "improved"), [(6, 4, True), (6, 5, False), (6, 8, False), (3, 0, True)]
)
def test_pain_improvement(writer, rows, before, after, improved):
    LdnPatient(rows, pain_before=before, pain_after=after)
    build_study(writer)
    assert one(
        writer,
        "SELECT pain_at_prescription, pain_at_follow_up, pain_change, pain_improved FROM study.outcomes",
    ) == (before, after, after - before, improved)


def test_pain_without_a_score_is_undocumented(writer, rows):
    patient = LdnPatient(rows)
    writer.execute("DELETE FROM core.observations WHERE visit_id = ?", [patient.follow_up])
    patient.pain(60 + 121, 1)  # the next day, and referencing no visit: outside the 0-day window
    build_study(writer)
    assert one(writer, "SELECT pain_at_follow_up, pain_improved FROM study.outcomes") == (
        None,
        None,
    )
    measure = one(
        writer, "SELECT n, denominator FROM study.summary WHERE measure = 'pain_improved'"
    )
    assert measure == (0, 1)


def test_side_effects_between_prescription_and_follow_up(writer, rows):
    patient = LdnPatient(rows, follow_up_days=120)
    other_drug = patient.order(0, 10, rxnorm="856448", name="propranolol hydrochloride 10 MG")
    patient.adverse_event(60, patient.ldn)  # on the prescription day: counts
    patient.adverse_event(180, patient.ldn, severity="moderate")  # on the follow-up day: counts
    patient.adverse_event(181, patient.ldn)  # after the follow-up
    patient.adverse_event(59, patient.ldn)  # before the prescription
    patient.adverse_event(100, other_drug)  # another drug suspected
    patient.adverse_event(100, patient.ldn, actuality="potential")  # a near miss
    build_study(writer)
    assert one(
        writer,
        "SELECT side_effects, side_effect, mild_side_effects, worst_side_effect_severity "
        "FROM study.outcomes",
    ) == (2, True, 1, "moderate")


def test_the_worst_severity_follows_the_order_of_the_config_list(writer, rows):
    patient = LdnPatient(rows)
    patient.adverse_event(70, patient.ldn, severity="severe")
    patient.adverse_event(80, patient.ldn, severity="mild")
    patient.adverse_event(90, patient.ldn, severity="moderate")
    build_study(writer)
    assert one(writer, "SELECT worst_side_effect_severity FROM study.outcomes") == "severe"

    def reverse(data: dict) -> None:
        data["code_lists"]["side_effect_severities"]["codes"].reverse()

    build_study(writer, config_with(reverse))
    assert one(writer, "SELECT worst_side_effect_severity FROM study.outcomes") == "mild"


# ------------------------------------------------------------------------ summary and tests


def test_ldn_written_at_the_first_visit_keeps_the_patient_but_not_the_pair(writer, rows):
    same_visit = Chart(rows)
    first = same_visit.visit(0)
    same_visit.condition("G90.9", visit_id=first)
    same_visit.compass(0, visit_id=first, answers=bladder_answers(4))
    same_visit.order(0, 1, visit_id=first)
    follow_up = same_visit.visit(120)
    same_visit.compass(120, visit_id=follow_up, answers=bladder_answers(2))
    for first_option, second_option in [(1, 2), (2, 3), (1, 3)]:
        LdnPatient(
            rows,
            answers=(
                bladder_answers(first_option),
                bladder_answers(second_option),
                bladder_answers(second_option),
            ),
        )
    build_study(writer)
    assert one(writer, "SELECT count(*) FROM study.cohort") == 4
    flags = writer.execute(
        "SELECT patient_id, timepoint, same_visit_as_prescription FROM study.timepoints "
        "WHERE same_visit_as_prescription"
    ).fetchall()
    assert flags == [(same_visit.patient_id, "initial", True)]
    assert one(
        writer,
        "SELECT count(*) FILTER (WHERE same_visit_as_prescription), count(*) "
        "FROM study.compass31_by_timepoint",
    ) == (1, 12)
    tests = {
        row[0]: row[1:]
        for row in writer.execute(
            "SELECT comparison, n, n_a, n_b, mean_a, note FROM study.tests WHERE score = 'total'"
        ).fetchall()
    }
    # Initial vs prescription: the same-visit patient's one COMPASS-31 is left out at the
    # initial timepoint (no zero pair, not counted twice); it stays at prescription.
    n, n_a, n_b, mean_a, note = tests["initial_vs_prescription"]
    assert (n, n_a, n_b) == (3, 3, 4)
    assert mean_a == pytest.approx(10 / 9 * (0 + 1 + 0) / 3)
    assert note == (
        "1 patient(s) left out at initial: the initial visit is the prescription visit "
        "(one COMPASS-31 for both)"
    )
    assert tests["prescription_vs_followup"][:3] == (4, 4, 4)
    assert tests["prescription_vs_followup"][4] is None


def test_t_and_mean_difference_have_the_same_sign_in_study_tests(writer, rows):
    for first, second, third in [(1, 2, 1), (2, 4, 1), (1, 3, 2), (2, 3, 1)]:
        LdnPatient(
            rows, answers=(bladder_answers(first), bladder_answers(second), bladder_answers(third))
        )
    build_study(writer)
    found = writer.execute(
        "SELECT comparison, mean_difference, t_student, mean_paired_difference, t_paired "
        "FROM study.tests WHERE score = 'total' ORDER BY comparison"
    ).fetchall()
    assert [row[0] for row in found] == ["initial_vs_prescription", "prescription_vs_followup"]
    # Scores rise from initial to prescription and fall by the follow-up.
    assert found[0][1] > 0 and found[1][1] < 0
    for _, mean_difference, t_student, mean_paired, t_paired in found:
        assert math.copysign(1, t_student) == math.copysign(1, mean_difference)
        assert math.copysign(1, t_paired) == math.copysign(1, mean_paired)


def test_summary_means_and_tests_follow_the_scores(writer, rows):
    for first, second, third in [(1, 2, 3), (2, 2, 4), (1, 3, 3)]:
        LdnPatient(
            rows, answers=(bladder_answers(first), bladder_answers(second), bladder_answers(third))
        )
    build_study(writer)
    mean, sd, n = one(
        writer,
        "SELECT mean, sd, n FROM study.summary WHERE measure = 'compass31_bl' AND timepoint = 'follow_up'",
    )
    assert (mean, n) == (pytest.approx(round(10 / 9 * (2 + 3 + 2) / 3, 4)), 3)
    assert sd == pytest.approx(round(10 / 9 * 0.57735026919, 4), abs=1e-4)
    test = one(
        writer,
        "SELECT n, n_a, n_b, mean_difference, p_paired, note FROM study.tests "
        "WHERE comparison = 'prescription_vs_followup' AND score = 'oi'",
    )
    assert test == (3, 3, 3, 0.0, None, test[5])
    assert "no variance" in test[5] and "every difference is zero" in test[5]


def test_an_empty_warehouse_builds_empty_study_tables(writer):
    counts = build_study(writer)
    assert counts["cohort"] == counts["timepoints"] == 0
    assert counts["tests"] == 14
    assert one(writer, "SELECT n FROM study.summary WHERE measure = 'patients'") == 0
    assert {
        note for (note,) in writer.execute("SELECT DISTINCT note FROM study.tests").fetchall()
    } == {
        "Student's t needs at least two values per timepoint; paired t needs at least two pairs; "
        "Wilcoxon needs at least one pair"
    }


def test_the_dates_are_the_visit_dates(writer, rows):
    patient = LdnPatient(rows, follow_up_days=150)
    build_study(writer)
    assert writer.execute(
        "SELECT timepoint, visit_date, days_from_prescription FROM study.timepoints ORDER BY timepoint_number"
    ).fetchall() == [
        ("initial", day(0), -60),
        ("prescription", day(60), 0),
        ("follow_up", day(210), 150),
    ]
    assert patient.follow_up_offset == 210
