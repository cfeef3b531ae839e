"""The `paper` profile: the published LDN cohort planted among patients who must stay out of it.

The 29 patients of Zapata et al. (Cureus 2025; study-ldn.md) are scripted so that the study's
definitions, applied to the FHIR data, give exactly the published numbers. How the data carries
each one:

- 29 patients: a dysautonomia Condition (G90.9, G90.8, G90.A or G25.82; POTS diagnosed before
  October 2022 is I49.8/R00.0 with a POTS text, recoded G90.A on the problem list), an LDN
  MedicationRequest (RxNorm 7243, daily dose <= 5 mg), and COMPASS-31 at the initial,
  prescription and follow-up visits.
- Reason for LDN, 11 pain / 5 orthostatic / 2 other / 11 none: `reasonCode` of every LDN order
  of the patient (ICD-10-CM), none on the 11. The prescription visit records no diagnosis, so an
  encounter-diagnosis fallback finds nothing either.
- 25 of 29 start at 1 mg daily: the first LDN order is 1 mg once daily (two of them written as
  0.5 mg twice daily, one as 1 mg every 24 h); the other four start at 0.5, 1.5, 2 and 3 mg.
- 11 dose increases: a later LDN order with a higher daily dose, authored on or before the
  follow-up visit (one at the follow-up visit itself). Traps: increases after the follow-up, an
  increase undone before it, a decrease, a same-dose refill.
- 7 pain improvements: the pain score (LOINC 72514-3) at the follow-up visit is at least 2 below
  the prescription visit's; the others are unchanged, 1 better, or worse.
- 5 mild side effects: AdverseEvent, severity mild, suspectEntity the LDN order, dated between
  prescription and follow-up. Traps: one such event after the follow-up, one suspecting
  propranolol.
- No significant COMPASS-31 change: answers from a latent severity per patient, redrawn until
  every comparison is null (questionnaire.py).

The follow-up is the first autonomic visit 92-266 days after the prescription that has a
COMPASS-31; some patients have an autonomic visit without one earlier in the window, some a second
COMPASS-31 later in it. Distractors (see DISTRACTORS) fail exactly one inclusion rule each.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from . import codes
from .chart import ChartBuilder, Dosing, Order, QuestionnaireForm, Visit
from .clinic import (
    EXPORT_DATE,
    FIRST_DAY,
    LAST_DAY,
    at_clinic_hours,
    autonomic_visit,
    comorbidities,
    death_date,
    dependence_treatment,
    drug_order,
    dysautonomia_diagnosis,
    general_care,
    ldn_order,
    new_chart,
    patient_rng,
    random_day,
)
from .codes import Code
from .export import CohortFacts, PaperAnswerKey, PatientChart
from .people import RESTRICTED_PLACES, birth_date_for_age
from .questionnaire import Answers, draw_answers, draw_null_effect_series, drift, latent_severity

PUBLISHED = {
    "patients": 29,
    "reason_documented": 18,
    "reason_pain": 11,
    "reason_orthostatic": 5,
    "reason_other": 2,
    "reason_not_documented": 11,
    "initial_dose_1mg": 25,
    "dose_increased": 11,
    "pain_improved": 7,
    "mild_side_effects": 5,
}
"""The published numbers (study-ldn.md), as the answer key states them."""

DISTRACTORS = {
    "dysautonomia_without_ldn": 6,
    "naltrexone_50mg": 2,
    "dysautonomia_naltrexone_50mg": 1,
    "naltrexone_above_ldn_dose": 1,
    "ldn_compass_at_60_days_only": 1,
    "ldn_compass_at_300_days_only": 1,
    "ldn_window_visit_without_compass": 1,
    "ldn_no_follow_up": 1,
    "ldn_without_dysautonomia": 2,
}
"""Patients who must not enter the cohort, by the one rule each breaks."""

_SUBTYPES = ("pots",) * 17 + ("general",) * 9 + ("stiff_person",) * 3
DEFAULT_PATIENTS = 60
# Ordinary patients with a role: two aged 90+ (one deceased), one aged 89, one more deceased.
MINIMUM_PATIENTS = len(_SUBTYPES) + sum(DISTRACTORS.values()) + 4
# Reasons that need a particular subtype are placed first; these go to the other patients.
_OPEN_REASONS: tuple[Code | None, ...] = (
    (codes.FIBROMYALGIA,) * 4
    + (codes.CHRONIC_PAIN_OTHER,) * 3
    + (codes.CHRONIC_PAIN_SYNDROME,) * 2
    + (codes.POLYNEUROPATHY,) * 2
    + (codes.ORTHOSTATIC_HYPOTENSION,) * 2
    + (codes.SYNCOPE, codes.CHRONIC_FATIGUE)
    + (None,) * 11
)
# Markers: prescription visit, titration visits (days 20-45 and 55-85), follow-up, and a visit
# 30-120 days after the follow-up.
_DOSE_STORIES: tuple[tuple[tuple[str, Dosing], ...], ...] = (
    # Increased on or before the follow-up visit (11).
    (("prescription", Dosing(1)), ("titration", Dosing(1.5))),
    (("prescription", Dosing(1)), ("titration", Dosing(1.5))),
    (("prescription", Dosing(1)), ("titration", Dosing(1.5))),
    (("prescription", Dosing(1)), ("titration", Dosing(2))),
    (("prescription", Dosing(1)), ("titration", Dosing(2))),
    (("prescription", Dosing(1)), ("titration", Dosing(2)), ("titration_2", Dosing(3))),
    (("prescription", Dosing(1)), ("titration", Dosing(3)), ("titration_2", Dosing(4.5))),
    (("prescription", Dosing(1)), ("follow_up", Dosing(1.5))),
    (("prescription", Dosing(0.5, 2)), ("titration", Dosing(1, 2))),
    (("prescription", Dosing(0.5)), ("titration", Dosing(1.5))),
    (("prescription", Dosing(2)), ("titration", Dosing(3))),
    # Not increased by the follow-up visit (18).
    *((("prescription", Dosing(1)),),) * 10,
    (("prescription", Dosing(0.5, 2)),),
    (("prescription", Dosing(1, 1, 24, "h")),),
    (("prescription", Dosing(1)), ("titration", Dosing(1))),
    (("prescription", Dosing(1)), ("after", Dosing(2))),
    (("prescription", Dosing(1)), ("after", Dosing(1.5))),
    (("prescription", Dosing(1)), ("titration", Dosing(2)), ("titration_2", Dosing(1))),
    (("prescription", Dosing(1.5)), ("titration", Dosing(1))),
    (("prescription", Dosing(3)),),
)
_PAIN_CHANGES = (-2, -2, -2, -3, -3, -4, -5) + (0,) * 8 + (-1,) * 7 + (1,) * 5 + (2,) * 2
_SIDE_EFFECTS = (True,) * 5 + (False,) * 24


@dataclass(frozen=True)
class _CohortPlan:
    subtype: str
    reason: Code | None
    doses: tuple[tuple[str, Dosing], ...]
    pain_change: int
    side_effect: bool
    trap: str | None
    severity: dict[str, float]
    answers: list[Answers]


def paper_charts(
    seed: int, patients: int | None, form: QuestionnaireForm
) -> tuple[list[PatientChart], PaperAnswerKey]:
    """The published cohort, the distractors and ordinary patients, in shuffled order.

    Args:
        seed: export seed.
        patients: total number of patients (at least MINIMUM_PATIENTS); None for 60.
        form: COMPASS-31 canonical and linkId prefix.

    Returns:
        The charts and the answer key.

    Raises:
        ValueError: if `patients` is too small to hold the cohort and the distractors.
    """
    total = DEFAULT_PATIENTS if patients is None else patients
    if total < MINIMUM_PATIENTS:
        raise ValueError(f"the paper profile needs at least {MINIMUM_PATIENTS} patients")
    layout = random.Random(f"{seed}:paper:layout")
    roles = ["cohort"] * len(_SUBTYPES)
    roles += [name for name, count in DISTRACTORS.items() for _ in range(count)]
    roles += ["ordinary"] * (total - len(roles))
    layout.shuffle(roles)
    ordinary = [index for index, role in enumerate(roles) if role == "ordinary"]
    aged_90_plus, aged_89 = ordinary[:2], ordinary[2]
    deceased = {ordinary[0], ordinary[3]}
    restricted = {
        index: place
        for place, index in enumerate(layout.sample(range(total), len(RESTRICTED_PLACES)))
    }
    plans = iter(_cohort_plans(random.Random(f"{seed}:paper:cohort")))

    charts: list[PatientChart] = []
    facts: list[CohortFacts] = []
    distractors: dict[str, str] = {}
    for index, role in enumerate(roles):
        rng = patient_rng(seed, "paper", index)
        if role == "cohort":
            plan = next(plans)
            chart = new_chart(
                rng,
                index,
                seed,
                form,
                gender="female" if rng.random() < 0.85 else "male",
                birth_date=birth_date_for_age(rng, 21, 62, EXPORT_DATE),
                restricted_zip=restricted.get(index),
            )
            facts.append(_cohort_patient(chart, plan))
        elif role == "ordinary":
            if index in aged_90_plus:
                ages = (90, 96)
            elif index == aged_89:
                ages = (89, 89)
            else:
                ages = (18, 85)
            chart = new_chart(
                rng,
                index,
                seed,
                form,
                gender=rng.choice(("female", "male")),
                birth_date=birth_date_for_age(rng, *ages, EXPORT_DATE),
                restricted_zip=restricted.get(index),
            )
            # Leave room for a date of death before the export.
            last = date(2025, 6, 30) if index in deceased else LAST_DAY
            general_care(chart, FIRST_DAY, last, rng.randint(2, 5))
        else:
            chart = new_chart(
                rng,
                index,
                seed,
                form,
                gender="female" if rng.random() < 0.8 else "male",
                birth_date=birth_date_for_age(rng, 22, 65, EXPORT_DATE),
                restricted_zip=restricted.get(index),
            )
            _DISTRACTOR_STORIES[role](chart)
            distractors[chart.patient_id] = role
        died = death_date(rng, chart, 1.0) if index in deceased else None
        charts.append(PatientChart(index, chart.patient_id, role, chart.finish(died)))
    return charts, PaperAnswerKey(tuple(facts), distractors, dict(PUBLISHED))


def _cohort_plans(rng: random.Random) -> list[_CohortPlan]:
    """Deal the published facts out to 29 patients: the counts are fixed, the pairing is not."""
    size = len(_SUBTYPES)
    subtypes = list(_SUBTYPES)
    rng.shuffle(subtypes)
    reasons: dict[int, Code | None] = {}
    reasons[rng.choice([i for i, s in enumerate(subtypes) if s == "stiff_person"])] = (
        codes.STIFF_MAN
    )
    for i in rng.sample([i for i, s in enumerate(subtypes) if s == "pots"], 2):
        reasons[i] = codes.POTS
    open_reasons = list(_OPEN_REASONS)
    rng.shuffle(open_reasons)
    for i in range(size):
        if i not in reasons:
            reasons[i] = open_reasons.pop()
    doses = list(_DOSE_STORIES)
    pain_changes = list(_PAIN_CHANGES)
    side_effects = list(_SIDE_EFFECTS)
    for values in (doses, pain_changes, side_effects):
        rng.shuffle(values)
    late_trap, other_drug_trap = rng.sample([i for i in range(size) if not side_effects[i]], 2)
    severities = [latent_severity(rng) for _ in range(size)]
    # Initial, prescription and follow-up answers, drawn together so no comparison is significant.
    series = draw_null_effect_series(rng, severities)
    return [
        _CohortPlan(
            subtype=subtypes[i],
            reason=reasons[i],
            doses=doses[i],
            pain_change=pain_changes[i],
            side_effect=side_effects[i],
            trap={late_trap: "late_side_effect", other_drug_trap: "other_drug_side_effect"}.get(i),
            severity=severities[i],
            answers=series[i],
        )
        for i in range(size)
    ]


def _cohort_patient(chart: ChartBuilder, plan: _CohortPlan) -> CohortFacts:
    rng = chart.rng
    answers = plan.answers
    # G90.A as the reason for LDN needs the code to exist at the prescription.
    earliest = date(2022, 10, 17) if plan.reason == codes.POTS else date(2021, 3, 1)
    initial_day = random_day(rng, earliest, date(2023, 12, 29))
    general_care(
        chart,
        max(FIRST_DAY, initial_day - timedelta(days=400)),
        initial_day - timedelta(days=14),
        rng.randint(1, 2),
    )
    pain_before = rng.randint(max(3, -plan.pain_change), min(9, 10 - plan.pain_change))
    pain_after = pain_before + plan.pain_change
    intake = autonomic_visit(
        chart,
        at_clinic_hours(rng, initial_day),
        new=True,
        pain=_near(rng, pain_before),
        answers=answers[0],
        assessment="Orthostatic intolerance with widespread pain; autonomic testing reviewed.",
        plan="Fluids, salt, compression; consider low-dose naltrexone.",
        reason=rng.choice(codes.VISIT_REASONS[:4]),
    )
    diagnosis, _ = dysautonomia_diagnosis(chart, intake, plan.subtype)
    needs_condition = plan.reason is not None and plan.reason not in (codes.POTS, codes.STIFF_MAN)
    comorbidities(chart, intake, (plan.reason,) if needs_condition else ())
    other_drug: Order | None = None
    if plan.trap == "other_drug_side_effect" or rng.random() < 0.4:
        drug = (
            codes.PROPRANOLOL
            if plan.trap == "other_drug_side_effect"
            else rng.choice(codes.AUTONOMIC_DRUGS)
        )
        other_drug = drug_order(chart, intake, drug, days=365, reason=diagnosis)
    gap = rng.randint(35, 240)
    if gap > 120 and rng.random() < 0.5:
        autonomic_visit(
            chart,
            at_clinic_hours(rng, initial_day + timedelta(days=gap // 2)),
            new=False,
            pain=_near(rng, pain_before),
            answers=draw_answers(rng, drift(rng, plan.severity)) if rng.random() < 0.5 else None,
            assessment="Dysautonomia, partial response to conservative measures.",
            plan="Continue; review pain management.",
        )
    prescription = autonomic_visit(
        chart,
        at_clinic_hours(rng, initial_day + timedelta(days=gap)),
        new=False,
        pain=pain_before,
        answers=answers[1],
        assessment="Dysautonomia with persistent symptoms.",
        plan="Start low-dose naltrexone; titrate as tolerated.",
    )
    ldn = ldn_order(chart, prescription, plan.doses[0][1], reason=plan.reason)
    later_orders = dict(plan.doses[1:])

    follow_up_offset = rng.randint(94, 264)
    schedule = [(follow_up_offset, "follow_up")]
    needs_titration = plan.side_effect or plan.trap == "other_drug_side_effect"
    if "titration" in later_orders or needs_titration or rng.random() < 0.4:
        schedule.append((rng.randint(20, 45), "titration"))
    if "titration_2" in later_orders:
        schedule.append((rng.randint(55, 85), "titration_2"))
    if follow_up_offset >= 104 and rng.random() < 0.35:
        schedule.append((rng.randint(92, follow_up_offset - 10), "window_without_compass"))
    if follow_up_offset <= 248 and rng.random() < 0.3:
        schedule.append((rng.randint(follow_up_offset + 14, 262), "second_compass"))
    if "after" in later_orders or plan.trap == "late_side_effect" or rng.random() < 0.5:
        schedule.append((follow_up_offset + rng.randint(30, 120), "after"))
    schedule.sort()

    follow_up: Visit | None = None
    final = ldn.dosing
    middle_pain = (pain_before + pain_after) // 2
    for offset, marker in schedule:
        if marker == "follow_up":
            visit_answers: Answers | None = answers[2]
        elif marker == "second_compass" or (marker == "after" and rng.random() < 0.5):
            visit_answers = draw_answers(rng, drift(rng, plan.severity))
        else:
            visit_answers = None
        visit = autonomic_visit(
            chart,
            at_clinic_hours(rng, prescription.start.date() + timedelta(days=offset)),
            new=False,
            pain=pain_after if marker == "follow_up" else _near(rng, middle_pain),
            answers=visit_answers,
            assessment="Dysautonomia on low-dose naltrexone.",
            plan="Continue low-dose naltrexone.",
        )
        if marker == "titration" and plan.side_effect:
            _side_effect(chart, visit, ldn, after=prescription)
        if marker == "titration" and plan.trap == "other_drug_side_effect" and other_drug:
            _side_effect(chart, visit, other_drug, after=prescription)
        if marker == "after" and plan.trap == "late_side_effect":
            assert follow_up is not None, "the follow-up precedes the visit after it"
            _side_effect(chart, visit, ldn, after=follow_up)
        if marker in later_orders:
            chart.stop(ldn)
            ldn = ldn_order(chart, visit, later_orders[marker], reason=plan.reason)
        if marker == "follow_up":
            follow_up, final = visit, ldn.dosing
    assert follow_up is not None, "every schedule holds the follow-up visit"
    general_care(chart, follow_up.start.date() + timedelta(days=7), LAST_DAY, rng.randint(0, 2))

    initial_mg = plan.doses[0][1].daily_mg
    return CohortFacts(
        patient_id=chart.patient_id,
        subtype=plan.subtype,
        initial_visit_id=intake.id,
        prescription_visit_id=prescription.id,
        follow_up_visit_id=follow_up.id,
        follow_up_days=(follow_up.start.date() - prescription.start.date()).days,
        reason_class=None if plan.reason is None else codes.REASON_CLASS[plan.reason.code],
        reason_code=None if plan.reason is None else plan.reason.code,
        initial_daily_mg=initial_mg,
        final_daily_mg=final.daily_mg,
        dose_increased=final.daily_mg > initial_mg,
        pain_at_prescription=pain_before,
        pain_at_follow_up=pain_after,
        pain_improved=pain_after <= pain_before - 2,
        mild_side_effect=plan.side_effect,
    )


def _side_effect(chart: ChartBuilder, visit: Visit, suspect: Order, *, after: Visit) -> None:
    """A mild side effect reported at `visit` that began a few days before it, after `after`."""
    rng = chart.rng
    latest = (visit.start.date() - after.start.date()).days - 1
    onset = visit.start - timedelta(days=rng.randint(1, min(10, latest)), hours=rng.randint(0, 6))
    chart.adverse_event(onset, visit, rng.choice(codes.SIDE_EFFECTS), "mild", suspect)


def _near(rng: random.Random, score: int) -> int:
    """A pain score within one point of `score` (a visit that is not a study timepoint)."""
    return min(10, max(0, score + rng.randint(-1, 1)))


def _autonomic_course(
    chart: ChartBuilder,
    subtype: str | None,
    first: date,
    visits: list[tuple[int, bool]],
) -> list[Visit]:
    """Autonomic visits on day offsets from `first`, each with or without a COMPASS-31.

    The first is the intake: it records the dysautonomia diagnosis of `subtype` (None: evaluated
    for dizziness, no dysautonomia found) and comorbidities.
    """
    rng = chart.rng
    severity = latent_severity(rng)
    made = []
    for number, (offset, with_compass) in enumerate(visits):
        severity = drift(rng, severity)
        visit = autonomic_visit(
            chart,
            at_clinic_hours(rng, first + timedelta(days=offset)),
            new=number == 0,
            pain=rng.randint(2, 8),
            answers=draw_answers(rng, severity) if with_compass else None,
            assessment="Autonomic symptoms under evaluation and treatment.",
            plan="Continue current management.",
            reason=rng.choice(codes.VISIT_REASONS[:4]) if number == 0 else None,
        )
        if number == 0:
            if subtype is None:
                chart.condition(codes.DIZZINESS, visit.start, visit)
                comorbidities(chart, visit, (codes.FIBROMYALGIA,))
            else:
                dysautonomia_diagnosis(chart, visit, subtype)
                comorbidities(chart, visit)
        made.append(visit)
    return made


def _first_visit_day(rng: random.Random) -> date:
    return random_day(rng, date(2021, 3, 1), date(2024, 6, 28))


def _dysautonomia_without_ldn(chart: ChartBuilder) -> None:
    rng = chart.rng
    first = _first_visit_day(rng)
    plan = [(0, True)]
    offset = 0
    for _ in range(rng.randint(2, 4)):
        offset += rng.randint(60, 200)
        if first + timedelta(days=offset) > LAST_DAY - timedelta(days=7):
            break
        plan.append((offset, rng.random() < 0.85))
    subtype = rng.choice(("pots", "general", "stiff_person"))
    visits = _autonomic_course(chart, subtype, first, plan)
    if rng.random() < 0.6:
        drug_order(chart, visits[0], rng.choice(codes.AUTONOMIC_DRUGS), days=180)


def _dysautonomia_naltrexone_50mg(chart: ChartBuilder) -> None:
    """Dysautonomia with every COMPASS-31 timepoint, but naltrexone 50 mg for alcohol dependence."""
    visits = _autonomic_course(
        chart, "general", _first_visit_day(chart.rng), [(0, True), (90, True), (240, True)]
    )
    chart.condition(codes.ALCOHOL_DEPENDENCE, visits[1].start, visits[1])
    drug_order(chart, visits[1], codes.NALTREXONE_TABLET, days=180, reason=codes.ALCOHOL_DEPENDENCE)


def _naltrexone_above_ldn_dose(chart: ChartBuilder) -> None:
    """Compounded naltrexone 3 mg twice daily: 6 mg a day is above the LDN limit of 5 mg."""
    visits = _autonomic_course(
        chart, "pots", _first_visit_day(chart.rng), [(0, True), (100, True), (250, True)]
    )
    ldn_order(chart, visits[1], Dosing(3, 2), reason=None)


def _ldn_with_follow_ups(follow_ups: list[tuple[int, bool]]) -> Callable[[ChartBuilder], None]:
    """A dysautonomia patient started on LDN at day 90, seen again on the given days after it."""

    def story(chart: ChartBuilder) -> None:
        rng = chart.rng
        plan = [(0, True), (90, True), *((90 + offset, compass) for offset, compass in follow_ups)]
        subtype = rng.choice(("pots", "general", "stiff_person"))
        visits = _autonomic_course(chart, subtype, _first_visit_day(rng), plan)
        reason = rng.choice((None, codes.SYNCOPE, codes.CHRONIC_PAIN_SYNDROME))
        ldn_order(chart, visits[1], Dosing(1), reason=reason)

    return story


def _ldn_without_dysautonomia(chart: ChartBuilder) -> None:
    """Every COMPASS-31 timepoint and LDN, but the work-up found no dysautonomia."""
    rng = chart.rng
    prescription = rng.randint(60, 120)
    visits = _autonomic_course(
        chart,
        None,
        _first_visit_day(rng),
        [(0, True), (prescription, True), (prescription + 120, True)],
    )
    ldn_order(chart, visits[1], Dosing(1), reason=codes.FIBROMYALGIA)


_DISTRACTOR_STORIES = {
    "dysautonomia_without_ldn": _dysautonomia_without_ldn,
    "naltrexone_50mg": dependence_treatment,
    "dysautonomia_naltrexone_50mg": _dysautonomia_naltrexone_50mg,
    "naltrexone_above_ldn_dose": _naltrexone_above_ldn_dose,
    "ldn_compass_at_60_days_only": _ldn_with_follow_ups([(60, True)]),
    "ldn_compass_at_300_days_only": _ldn_with_follow_ups([(300, True)]),
    "ldn_window_visit_without_compass": _ldn_with_follow_ups(
        [(60, True), (150, False), (310, True)]
    ),
    "ldn_no_follow_up": _ldn_with_follow_ups([]),
    "ldn_without_dysautonomia": _ldn_without_dysautonomia,
}
