"""The clinical model: an autonomic clinic inside a general practice, 2021-2025.

Building blocks (visits with vitals, questionnaires and notes; date-correct dysautonomia coding;
comorbidities; LDN orders; ordinary primary care) are shared with the `paper` profile, which
scripts the published cohort from them. `clinic_charts()` draws a whole clinic population:

| archetype | share | what the chart holds |
|---|---|---|
| ordinary | 76 % | primary-care visits, chronic and acute diagnoses with their drugs |
| dysautonomia | 20 % | + autonomic clinic visits with COMPASS-31 and pain scores; a third get LDN |
| naltrexone_50mg | 2 % | alcohol or opioid dependence treated with naltrexone 50 mg daily |
| ldn_without_dysautonomia | 2 % | fibromyalgia treated with LDN outside the autonomic clinic |

Every patient also has a few primary-care visits. About 1 % are 90 or older at the export date,
about 3.4 % live in a restricted ZIP3 area, 15 % have a ZIP+4, about 2 % have died. About 2 % of
the follow-up COMPASS-31 forms leave one always-asked item blank, as paper forms do.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from . import codes
from .chart import ChartBuilder, Dosing, Order, QuestionnaireForm, Visit, number
from .codes import Code
from .export import EXPORT_TIME, PatientChart
from .people import RESTRICTED_PLACES, birth_date_for_age, make_identity, medical_record_number
from .questionnaire import ALWAYS_ASKED, GATES, Answers, draw_answers, drift, latent_severity

EXPORT_DATE = date.fromisoformat(EXPORT_TIME[:10])
FIRST_DAY = date(2021, 1, 4)
LAST_DAY = date(2025, 9, 19)
"""Visits fall between FIRST_DAY and LAST_DAY; the export is taken on EXPORT_DATE."""
G90A_START = date(2022, 10, 1)
"""ICD-10-CM G90.A (POTS) and Q79.60-Q79.69 (Ehlers-Danlos subtypes) start here."""

LDN_STEPS_MG = (0.5, 1, 1.5, 2, 3, 4.5)
"""Usual LDN titration steps (daily dose)."""

# Index patterns rather than coin flips for the rare de-identification edge cases, so that even a
# small export holds some (tests generate a few dozen patients).
_RESTRICTED_ZIP_EVERY = 29
_AGED_90_PLUS_EVERY = 97
_SEVERITIES = ("mild", "mild", "mild", "moderate", "moderate", "severe")


def patient_rng(seed: int, profile: str, index: int) -> random.Random:
    """The generator of one patient: independent of every other patient, same for the same seed.

    String seeds are hashed with SHA-512 by `random`, so this does not depend on PYTHONHASHSEED.
    """
    return random.Random(f"{seed}:{profile}:{index}")


def new_chart(
    rng: random.Random,
    index: int,
    seed: int,
    form: QuestionnaireForm,
    *,
    gender: str,
    birth_date: date,
    restricted_zip: int | None,
) -> ChartBuilder:
    """Start the chart of the patient at `index` with a fresh fake identity.

    Args:
        rng: the patient's generator.
        index: position in the export (makes the MRN unique).
        seed: the export seed.
        form: COMPASS-31 canonical and linkId prefix.
        gender: `female` or `male`.
        birth_date: date of birth.
        restricted_zip: which restricted ZIP3 area to live in (people.RESTRICTED_PLACES), or
            None for an ordinary address.

    Returns:
        The chart builder.
    """
    identity = make_identity(
        rng,
        medical_record_number(index, seed),
        gender=gender,
        birth_date=birth_date,
        restricted_zip=restricted_zip,
    )
    return ChartBuilder(rng, identity, form)


def at_clinic_hours(rng: random.Random, day: date) -> datetime:
    """An appointment time on `day`, or the Monday after (UTC, 08:00-16:55 US Eastern)."""
    day = weekday_on_or_after(day)
    return datetime(day.year, day.month, day.day, rng.randint(13, 21), rng.randrange(0, 60, 5))


def random_day(rng: random.Random, first: date, last: date) -> date:
    """A day in [first, last]."""
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


def weekday_on_or_after(day: date) -> date:
    """The day itself, or the Monday after when it falls on a weekend."""
    return day + timedelta(days=7 - day.weekday() if day.weekday() >= 5 else 0)


def dysautonomia_diagnosis(
    chart: ChartBuilder, visit: Visit, subtype: str
) -> tuple[Code, str | None]:
    """Record the dysautonomia diagnosis made at a visit, coded as it was on that date.

    POTS before October 2022 is coded I49.8 or R00.0 with the POTS wording; the problem list is
    updated to G90.A once the code exists.

    Args:
        chart: the chart.
        visit: the diagnosing visit.
        subtype: `pots`, `stiff_person` or `general`.

    Returns:
        The code and clinician's text recorded at the visit.
    """
    rng = chart.rng
    when = visit.start.date()
    text = None
    if subtype == "stiff_person":
        code = codes.STIFF_MAN
    elif subtype == "general":
        code = rng.choice(
            (codes.AUTONOMIC_UNSPECIFIED, codes.AUTONOMIC_UNSPECIFIED, codes.AUTONOMIC_OTHER)
        )
    elif when >= G90A_START:
        code = codes.POTS
    else:
        code, text = rng.choice((codes.ARRHYTHMIA_OTHER, codes.TACHYCARDIA)), codes.POTS_TEXT
    chart.condition(code, visit.start, visit, text=text)
    if text is not None:
        recoded = min(G90A_START + timedelta(days=rng.randint(7, 120)), LAST_DAY)
        chart.condition(codes.POTS, at_clinic_hours(rng, recoded), None)
    return code, text


def comorbidities(chart: ChartBuilder, visit: Visit, required: tuple[Code, ...] = ()) -> set[str]:
    """Record the comorbidities found at the intake visit (study-ldn.md list, plus common ones).

    Args:
        chart: the chart.
        visit: the intake visit.
        required: diagnoses that must be among them (e.g. the later reason for LDN).

    Returns:
        The ICD-10-CM codes recorded.
    """
    rng = chart.rng
    before_2022_10 = visit.start.date() < G90A_START
    found: list[tuple[Code, str | None]] = [(code, None) for code in required]
    if rng.random() < 0.35:
        found.append((codes.FIBROMYALGIA, None))
    if rng.random() < 0.3:
        neuropathy = rng.choice(
            (codes.POLYNEUROPATHY, codes.IDIOPATHIC_NEUROPATHY, codes.IDIOPATHIC_NEUROPATHY_OTHER)
        )
        found.append((neuropathy, codes.SMALL_FIBER_TEXT))
    if rng.random() < 0.25:
        eds = codes.EDS_BEFORE_2022_10
        if not before_2022_10:
            eds = rng.choice((codes.EDS_HYPERMOBILE, codes.EDS_UNSPECIFIED))
        found.append((eds, None))
    if rng.random() < 0.15:
        found.append((rng.choice((codes.MAST_CELL, codes.MAST_CELL_IDIOPATHIC)), None))
    if rng.random() < 0.35:
        found.append((rng.choice((codes.MIGRAINE, codes.CHRONIC_MIGRAINE)), None))
    if rng.random() < 0.25:
        found.append((rng.choice((codes.CHRONIC_PAIN_OTHER, codes.CHRONIC_PAIN_SYNDROME)), None))
    recorded: set[str] = set()
    for code, text in found:
        if code.code in recorded:
            continue
        if code in required and code.code == codes.POLYNEUROPATHY.code:
            text = codes.SMALL_FIBER_TEXT
        chart.condition(code, visit.start, visit, text=text)
        recorded.add(code.code)
    return recorded


def autonomic_visit(
    chart: ChartBuilder,
    start: datetime,
    *,
    new: bool,
    pain: int | None,
    answers: Answers | None,
    assessment: str,
    plan: str,
    reason: Code | None = None,
) -> Visit:
    """An autonomic clinic visit: vitals, pain score, COMPASS-31 when given, and a note.

    Args:
        chart: the chart.
        start: appointment time.
        new: intake consultation (else follow-up).
        pain: 0-10 pain score, or None when not asked.
        answers: COMPASS-31 answers, or None when no questionnaire was filled.
        assessment: note assessment.
        plan: note plan.
        reason: referral reason (intake visits).

    Returns:
        The visit.
    """
    rng = chart.rng
    kind = codes.AUTONOMIC_NEW if new else codes.AUTONOMIC_FOLLOW_UP
    visit = chart.visit(start, kind, reason)
    chart.vitals(
        visit, heart_rate=rng.randint(72, 128), weight_kg=rng.gauss(66, 12) if new else None
    )
    if pain is not None:
        chart.pain(visit, pain)
    if answers is not None:
        chart.questionnaire(visit, answers)
    chart.note(visit, codes.CONSULT_NOTE if new else codes.PROGRESS_NOTE, assessment, plan)
    return visit


def ldn_order(chart: ChartBuilder, visit: Visit, dosing: Dosing, *, reason: Code | None) -> Order:
    """Order compounded low-dose naltrexone (ingredient RxNorm 7243) for 90 days.

    Args:
        chart: the chart.
        visit: the ordering visit.
        dosing: dose and frequency.
        reason: the documented reason, or None.

    Returns:
        The order; `chart.stop()` it when a later order replaces it.
    """
    ends = visit.start.date() + timedelta(days=90)
    return chart.order(
        codes.NALTREXONE_INGREDIENT,
        visit,
        dosing,
        days=90,
        status="active" if ends > EXPORT_DATE else "completed",
        reason=reason,
        drug_text=f"naltrexone {number(dosing.dose_mg)} mg capsule, compounded (LDN)",
    )


def drug_order(
    chart: ChartBuilder, visit: Visit, drug: codes.Drug, *, days: int, reason: Code | None = None
) -> Order:
    """Order a drug at its usual dose."""
    ends = visit.start.date() + timedelta(days=days)
    return chart.order(
        drug.code,
        visit,
        Dosing(drug.dose_mg, drug.times_per_day),
        days=days,
        status="active" if ends > EXPORT_DATE else "completed",
        reason=reason,
    )


def general_care(chart: ChartBuilder, first: date, last: date, visits: int) -> None:
    """Primary-care visits between two dates: vitals, chronic and acute problems, their drugs.

    Args:
        chart: the chart.
        first: earliest visit day.
        last: latest visit day.
        visits: number of visits.
    """
    rng = chart.rng
    if visits <= 0 or last < first:
        return
    days = sorted(random_day(rng, first, last) for _ in range(visits))
    chronic: list[Code] = []
    for number_of_visit, day in enumerate(days):
        roll = rng.random()
        if number_of_visit == 0 or roll < 0.35:
            kind = codes.WELLNESS
        elif roll < 0.8:
            kind = codes.PROBLEM
        elif roll < 0.92:
            kind = codes.URGENT
        elif roll < 0.98:
            kind = codes.EMERGENCY
        else:
            kind = codes.INPATIENT
        reason = rng.choice(codes.VISIT_REASONS) if kind is not codes.WELLNESS else None
        visit = chart.visit(at_clinic_hours(rng, day), kind, reason)
        chart.vitals(
            visit,
            heart_rate=rng.randint(58, 96),
            weight_kg=rng.gauss(78, 15) if kind is codes.WELLNESS else None,
        )
        if kind is codes.WELLNESS and rng.random() < 0.5:
            code = rng.choice(codes.CHRONIC_CONDITIONS)
            if code not in chronic:
                chronic.append(code)
                chart.condition(code, visit.start, visit)
                drug = codes.DRUG_FOR_CONDITION.get(code.code)
                if drug is not None:
                    drug_order(chart, visit, drug, days=rng.choice((90, 180, 365)), reason=code)
        elif kind is not codes.WELLNESS:
            code = rng.choice(codes.ACUTE_CONDITIONS)
            chart.condition(
                code,
                visit.start,
                visit,
                resolved=visit.start + timedelta(days=rng.randint(7, 28)),
            )
            if rng.random() < 0.5:
                drug_order(chart, visit, rng.choice(codes.ACUTE_DRUGS), days=rng.randint(5, 10))
        if rng.random() < 0.3:
            chart.note(
                visit,
                codes.PROGRESS_NOTE,
                "Seen for routine care." if kind is codes.WELLNESS else "Acute complaint.",
                "Follow up as needed.",
            )


def death_date(rng: random.Random, chart: ChartBuilder, chance: float) -> date | None:
    """A date of death after the last visit and before the export, with the given chance."""
    if not chart.visits or rng.random() >= chance:
        return None
    last = max(visit.end for visit in chart.visits).date()
    if last >= EXPORT_DATE - timedelta(days=10):
        return None
    return random_day(rng, last + timedelta(days=3), EXPORT_DATE - timedelta(days=2))


def incomplete(rng: random.Random, answers: Answers) -> Answers:
    """Answers of a paper form with one always-asked, non-gate item left blank (about 2 %)."""
    if rng.random() >= 0.02:
        return answers
    blank = rng.choice([item for item in ALWAYS_ASKED if item not in GATES])
    return {item: options for item, options in answers.items() if item != blank}


def clinic_charts(seed: int, patients: int, form: QuestionnaireForm) -> list[PatientChart]:
    """Draw a clinic population.

    Args:
        seed: export seed.
        patients: number of patients.
        form: COMPASS-31 canonical and linkId prefix.

    Returns:
        The charts, in index order.
    """
    names = tuple(_ARCHETYPES)
    weights = tuple(archetype[0] for archetype in _ARCHETYPES.values())
    charts = []
    for index in range(patients):
        rng = patient_rng(seed, "clinic", index)
        name = rng.choices(names, weights=weights)[0]
        _, female_share, (youngest, oldest), story = _ARCHETYPES[name]
        aged_90_plus = index % _AGED_90_PLUS_EVERY == 7
        if aged_90_plus:
            youngest, oldest = 90, 99
        chart = new_chart(
            rng,
            index,
            seed,
            form,
            gender="female" if rng.random() < female_share else "male",
            birth_date=birth_date_for_age(rng, youngest, oldest, EXPORT_DATE),
            restricted_zip=(index // _RESTRICTED_ZIP_EVERY) % len(RESTRICTED_PLACES)
            if index % _RESTRICTED_ZIP_EVERY == 3
            else None,
        )
        story(chart)
        deceased = death_date(rng, chart, 0.15 if aged_90_plus else 0.02)
        charts.append(PatientChart(index, chart.patient_id, name, chart.finish(deceased)))
    return charts


def ordinary_care(chart: ChartBuilder) -> None:
    """A primary-care patient: two to six visits over the whole period."""
    general_care(chart, FIRST_DAY, LAST_DAY, chart.rng.randint(2, 6))


def dysautonomia_course(chart: ChartBuilder) -> None:
    """An autonomic clinic patient: intake, follow-ups with COMPASS-31, a third get LDN."""
    rng = chart.rng
    subtype = rng.choices(("pots", "general", "stiff_person"), weights=(60, 33, 7))[0]
    first = random_day(rng, FIRST_DAY, date(2025, 3, 31))
    general_care(chart, FIRST_DAY, first - timedelta(days=14), rng.randint(1, 3))
    severity = latent_severity(rng)
    pain = rng.randint(2, 8)
    intake = autonomic_visit(
        chart,
        at_clinic_hours(rng, first),
        new=True,
        pain=pain,
        answers=draw_answers(rng, severity),
        assessment="Orthostatic symptoms; autonomic testing reviewed.",
        plan="Fluids, salt, compression; follow up.",
        reason=rng.choice(codes.VISIT_REASONS[:4]),
    )
    code, _ = dysautonomia_diagnosis(chart, intake, subtype)
    found = comorbidities(chart, intake)
    if rng.random() < 0.5:
        drug = rng.choice(codes.AUTONOMIC_DRUGS)
        drug_order(chart, intake, drug, days=rng.choice((90, 180)), reason=code)
    gets_ldn = rng.random() < 0.35
    ldn: Order | None = None
    ldn_reason: Code | None = None
    day = first
    for follow_up in range(rng.randint(1, 6)):
        day += timedelta(days=rng.randint(45, 200))
        if day > LAST_DAY:
            break
        severity = drift(rng, severity)
        pain = min(10, max(0, pain + rng.randint(-2, 2)))
        answers = incomplete(rng, draw_answers(rng, severity)) if rng.random() < 0.8 else None
        visit = autonomic_visit(
            chart,
            at_clinic_hours(rng, day),
            new=False,
            pain=pain,
            answers=answers,
            assessment="Dysautonomia, follow-up.",
            plan="Continue current management.",
        )
        if gets_ldn and ldn is None and follow_up < 3:
            ldn_reason = _clinic_ldn_reason(rng, found, subtype, day)
            step = rng.choices(LDN_STEPS_MG, weights=(3, 80, 6, 5, 4, 2))[0]
            twice_daily = step == 1 and rng.random() < 0.08
            dosing = Dosing(0.5, 2) if twice_daily else Dosing(step)
            ldn = ldn_order(chart, visit, dosing, reason=ldn_reason)
        elif ldn is not None:
            if rng.random() < 0.12:
                onset = visit.start - timedelta(days=rng.randint(2, 20))
                chart.adverse_event(
                    max(onset, ldn.authored + timedelta(days=1)),
                    visit,
                    rng.choice(codes.SIDE_EFFECTS),
                    rng.choice(_SEVERITIES),
                    ldn,
                )
            higher = [step for step in LDN_STEPS_MG if step > ldn.dosing.daily_mg]
            if higher and rng.random() < 0.35:
                chart.stop(ldn)
                ldn = ldn_order(chart, visit, Dosing(higher[0]), reason=ldn_reason)
    general_care(chart, first, LAST_DAY, rng.randint(0, 2))


def _clinic_ldn_reason(rng: random.Random, found: set[str], subtype: str, day: date) -> Code | None:
    """A documented reason for LDN in 60 % of orders, weighted towards the patient's pain."""
    if rng.random() < 0.4:
        return None
    pain = [
        code
        for code in (
            codes.FIBROMYALGIA,
            codes.CHRONIC_PAIN_OTHER,
            codes.CHRONIC_PAIN_SYNDROME,
            codes.POLYNEUROPATHY,
        )
        if code.code in found
    ]
    orthostatic = [codes.ORTHOSTATIC_HYPOTENSION, codes.SYNCOPE]
    if subtype == "pots" and day >= G90A_START:
        orthostatic.append(codes.POTS)
    return rng.choice(pain * 3 + orthostatic + [codes.CHRONIC_FATIGUE])


def dependence_treatment(chart: ChartBuilder) -> None:
    """Alcohol or opioid dependence treated with naltrexone 50 mg daily (never LDN)."""
    rng = chart.rng
    general_care(chart, FIRST_DAY, LAST_DAY, rng.randint(1, 3))
    day = random_day(rng, FIRST_DAY, date(2025, 3, 1))
    dependence = rng.choice((codes.ALCOHOL_DEPENDENCE, codes.OPIOID_DEPENDENCE))
    order: Order | None = None
    for refill in range(rng.randint(1, 4)):
        if day > LAST_DAY:
            break
        visit = chart.visit(at_clinic_hours(rng, day), codes.PROBLEM)
        chart.vitals(visit, heart_rate=rng.randint(60, 100))
        if refill == 0:
            chart.condition(dependence, visit.start, visit)
            chart.note(
                visit,
                codes.PROGRESS_NOTE,
                "Substance use disorder, motivated for treatment.",
                "Naltrexone 50 mg daily; counselling referral.",
            )
        if order is not None:
            chart.stop(order)
        order = drug_order(chart, visit, codes.NALTREXONE_TABLET, days=90, reason=dependence)
        day += timedelta(days=rng.randint(80, 100))


def ldn_for_pain(chart: ChartBuilder) -> None:
    """Fibromyalgia or chronic pain treated with LDN in primary care, no dysautonomia."""
    rng = chart.rng
    general_care(chart, FIRST_DAY, LAST_DAY, rng.randint(1, 3))
    day = random_day(rng, FIRST_DAY, date(2025, 1, 31))
    pain = rng.randint(5, 9)
    reason = rng.choice((codes.FIBROMYALGIA, codes.CHRONIC_PAIN_SYNDROME))
    for visit_number in range(rng.randint(1, 4)):
        if day > LAST_DAY:
            break
        visit = chart.visit(at_clinic_hours(rng, day), codes.PROBLEM, codes.VISIT_REASONS[5])
        chart.vitals(visit, heart_rate=rng.randint(60, 100))
        chart.pain(visit, pain)
        if visit_number == 0:
            chart.condition(reason, visit.start, visit)
            ldn_order(chart, visit, Dosing(rng.choice((1.5, 3, 4.5))), reason=reason)
        pain = min(10, max(0, pain + rng.randint(-3, 1)))
        day += timedelta(days=rng.randint(60, 150))


_ARCHETYPES = {
    # name: (share in %, share of women, age range at export, story)
    "ordinary": (76, 0.5, (18, 89), ordinary_care),
    "dysautonomia": (20, 0.8, (20, 65), dysautonomia_course),
    "naltrexone_50mg": (2, 0.4, (25, 70), dependence_treatment),
    "ldn_without_dysautonomia": (2, 0.85, (25, 70), ldn_for_pain),
}
