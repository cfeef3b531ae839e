"""COMPASS-31 answers drawn from a latent symptom severity, and the cohort's null-effect check.

The generator needs the instrument's structure (options, points, gates; compass31.md sections 3-4)
to draw answers whose burden follows a patient's latent severity and to respect skip logic (a
closed gate leaves its follow-ups unanswered). It also needs the domain scores once: the paper
cohort must reproduce "no significant difference" between timepoints, so `draw_null_effect_series`
redraws the cohort's answers until every comparison is comfortably null. The production scorer is
`transforms/compass31.py`; this module only generates.

Answers are `dict[item number, tuple of option numbers]`: one option for most items, the ticked
boxes for item 6 (an empty tuple means answered with nothing ticked); a missing key is a skipped or
unanswered item.
"""

from __future__ import annotations

import math
import random
import statistics
from typing import NamedTuple

Answers = dict[int, tuple[int, ...]]

_TREND_6 = (3, 2, 1, 0, 0, 0)
_TREND_7 = (0, 3, 2, 1, 0, 0, 0)
_YES_NO = (1, 0)
_FREQUENCY_4 = (0, 1, 2, 3)
_SEVERITY_3 = (1, 2, 3)
_NEVER_SOMETIMES_OFTEN = (0, 1, 2)

OPTION_POINTS: dict[int, tuple[int, ...]] = {
    1: _YES_NO, 2: _FREQUENCY_4, 3: _SEVERITY_3, 4: _TREND_6,
    5: _YES_NO, 7: _TREND_6,
    8: (1, 0, 0, 1, 2), 9: _YES_NO, 10: _YES_NO, 11: _TREND_7,
    12: (2, 1, 0, 0, 0), 13: _NEVER_SOMETIMES_OFTEN, 14: _NEVER_SOMETIMES_OFTEN,
    15: _NEVER_SOMETIMES_OFTEN, 16: _YES_NO, 17: _FREQUENCY_4, 18: _SEVERITY_3, 19: _TREND_6,
    20: _YES_NO, 21: _FREQUENCY_4, 22: _SEVERITY_3, 23: _TREND_6,
    24: _FREQUENCY_4, 25: _FREQUENCY_4, 26: _FREQUENCY_4,
    27: _FREQUENCY_4, 28: _SEVERITY_3, 29: _FREQUENCY_4, 30: _SEVERITY_3, 31: _TREND_7,
}  # fmt: skip
"""Points of option 1..n per item (item 6, tick-all-that-apply, scores one point per box)."""

TICK_BOXES = (1, 2)
"""Item 6 boxes: 1 = hands, 2 = feet."""

GATES: dict[int, tuple[int, tuple[int, ...]]] = {
    1: (2, (2, 3, 4)),
    5: (2, (6, 7)),
    16: (2, (17, 18, 19)),
    20: (2, (21, 22, 23)),
    27: (1, (28,)),
    29: (1, (30,)),
}
"""Gate item -> (option that closes it, follow-up items skipped when closed)."""

_FOLLOW_UPS = frozenset(item for _, items in GATES.values() for item in items)
ALWAYS_ASKED = tuple(item for item in range(1, 32) if item not in _FOLLOW_UPS)
"""The 18 items every respondent answers."""


class Domain(NamedTuple):
    """A COMPASS-31 domain: name, items, weight (weighted maximum / raw maximum)."""

    name: str
    items: tuple[int, ...]
    weight: float


DOMAINS = (
    Domain("orthostatic_intolerance", (1, 2, 3, 4), 40 / 10),
    Domain("vasomotor", (5, 6, 7), 5 / 6),
    Domain("secretomotor", (8, 9, 10, 11), 15 / 7),
    Domain("gastrointestinal", tuple(range(12, 24)), 25 / 28),
    Domain("bladder", (24, 25, 26), 10 / 9),
    Domain("pupillomotor", (27, 28, 29, 30, 31), 5 / 15),
)
_DOMAIN_OF_ITEM = {item: domain.name for domain in DOMAINS for item in domain.items}

# Spread of one item's answer around the latent severity, as a fraction of the item's range.
_ITEM_NOISE = 0.22
# Drift of the latent severity between two visits: small, and centred on zero (no true effect).
_VISIT_DRIFT = 0.04
# The null-effect check accepts a draw only when every statistic is this far inside |1.96|:
# normal-approximation p > 0.13, so the exact t and Wilcoxon p-values are safely above 0.05.
_NULL_BOUND = 1.5


def latent_severity(rng: random.Random, mean: float = 0.55) -> dict[str, float]:
    """A patient's symptom burden per domain, 0 (none) to 1 (every item at its worst).

    Args:
        rng: the patient's random generator.
        mean: typical burden; 0.55 gives COMPASS-31 totals around 45, as in POTS cohorts.

    Returns:
        Domain name -> severity.
    """
    base = rng.gauss(mean, 0.14)
    return {domain.name: _clamp(base + rng.gauss(0, 0.12)) for domain in DOMAINS}


def drift(rng: random.Random, severity: dict[str, float]) -> dict[str, float]:
    """The same patient at another visit: a small change in every domain, no trend."""
    shift = rng.gauss(0, _VISIT_DRIFT)
    return {
        name: _clamp(value + shift + rng.gauss(0, _VISIT_DRIFT / 2))
        for name, value in severity.items()
    }


def draw_answers(rng: random.Random, severity: dict[str, float]) -> Answers:
    """Answers of one completed form, skip logic respected.

    Args:
        rng: the patient's random generator.
        severity: domain name -> latent severity (latent_severity(), drift()).

    Returns:
        Item number -> chosen options; follow-ups of closed gates are absent.
    """
    answers: Answers = {}
    skipped: set[int] = set()
    for item in range(1, 32):
        if item in skipped:
            continue
        level = severity[_DOMAIN_OF_ITEM[item]]
        if item == 6:
            chance = _clamp(level * 1.2, 0.05, 0.95)
            answers[6] = tuple(box for box in TICK_BOXES if rng.random() < chance)
            continue
        points = OPTION_POINTS[item]
        target = max(points) * (level + rng.gauss(0, _ITEM_NOISE))
        best = min(abs(p - target) for p in points)
        choices = [option for option, p in enumerate(points, 1) if abs(p - target) == best]
        option = choices[0] if len(choices) == 1 else rng.choice(choices)
        answers[item] = (option,)
        gate = GATES.get(item)
        if gate is not None and option == gate[0]:
            skipped.update(gate[1])
    return answers


def raw_domain_scores(answers: Answers) -> dict[str, int]:
    """Raw points per domain (complete answers; follow-ups of closed gates are absent)."""
    scores = dict.fromkeys(_DOMAIN_OF_ITEM.values(), 0)
    for item, options in answers.items():
        # Item 6 scores one point per ticked box.
        points = len(options) if item == 6 else OPTION_POINTS[item][options[0] - 1]
        scores[_DOMAIN_OF_ITEM[item]] += points
    return scores


def total_score(raw: dict[str, int]) -> float:
    """Weighted total, 0-100."""
    return sum(raw[domain.name] * domain.weight for domain in DOMAINS)


def draw_null_effect_series(
    rng: random.Random, severities: list[dict[str, float]], timepoints: int = 3
) -> list[list[Answers]]:
    """Answers of a cohort at consecutive timepoints with no detectable change between them.

    Each patient answers from their own latent severity with a small zero-mean drift per visit.
    Chance alone makes some of the 42 comparisons "significant" in a fair share of draws, so the
    whole cohort is redrawn until every comparison of consecutive timepoints (total and each
    domain; Student's two-sample t, paired t, Wilcoxon signed-rank) is within +-1.5 on the normal
    scale. Deterministic for a given generator state.

    Args:
        rng: the generator the paper profile draws its cohort from.
        severities: one latent severity per patient.
        timepoints: number of visits per patient.

    Returns:
        Per patient, the answers at each timepoint.

    Raises:
        RuntimeError: if no acceptable draw turns up (not expected: about one draw in eight passes).
    """
    for _ in range(1000):
        series = []
        for severity in severities:
            visits = [draw_answers(rng, severity)]
            current = severity
            for _ in range(timepoints - 1):
                current = drift(rng, current)
                visits.append(draw_answers(rng, current))
            series.append(visits)
        if _comparisons_are_null(series, timepoints):
            return series
    raise RuntimeError("no null-effect COMPASS-31 draw found in 1000 attempts")


def _comparisons_are_null(series: list[list[Answers]], timepoints: int) -> bool:
    scores = [[_all_scores(answers) for answers in visits] for visits in series]
    for score_index in range(len(DOMAINS) + 1):
        for before, after in zip(range(timepoints - 1), range(1, timepoints), strict=True):
            first = [patient[before][score_index] for patient in scores]
            second = [patient[after][score_index] for patient in scores]
            differences = [b - a for a, b in zip(first, second, strict=True)]
            if len(set(first)) < 2 or len(set(second)) < 2 or len(set(differences)) < 2:
                return False
            if abs(_student_t(first, second)) >= _NULL_BOUND:
                return False
            if abs(_paired_t(differences)) >= _NULL_BOUND:
                return False
            if abs(_wilcoxon_z(differences)) >= _NULL_BOUND:
                return False
    return True


def _all_scores(answers: Answers) -> tuple[float, ...]:
    raw = raw_domain_scores(answers)
    return (*(float(raw[domain.name]) for domain in DOMAINS), total_score(raw))


def _student_t(first: list[float], second: list[float]) -> float:
    n1, n2 = len(first), len(second)
    pooled = ((n1 - 1) * statistics.variance(first) + (n2 - 1) * statistics.variance(second)) / (
        n1 + n2 - 2
    )
    return (statistics.fmean(second) - statistics.fmean(first)) / math.sqrt(
        pooled * (1 / n1 + 1 / n2)
    )


def _paired_t(differences: list[float]) -> float:
    return statistics.fmean(differences) / (
        statistics.stdev(differences) / math.sqrt(len(differences))
    )


def _wilcoxon_z(differences: list[float]) -> float:
    """Signed-rank statistic on the normal scale: zeros dropped, mid-ranks and tie correction."""
    nonzero = sorted((abs(d), d > 0) for d in differences if abs(d) > 1e-9)
    n = len(nonzero)
    if n == 0:
        return 0.0
    ranks: list[float] = [0.0] * n
    tie_correction = 0.0
    start = 0
    while start < n:
        end = start
        while end + 1 < n and abs(nonzero[end + 1][0] - nonzero[start][0]) < 1e-9:
            end += 1
        size = end - start + 1
        for position in range(start, end + 1):
            ranks[position] = (start + end) / 2 + 1
        tie_correction += size**3 - size
        start = end + 1
    positive = sum(
        rank for rank, (_, is_positive) in zip(ranks, nonzero, strict=True) if is_positive
    )
    mean = n * (n + 1) / 4
    variance = n * (n + 1) * (2 * n + 1) / 24 - tie_correction / 48
    return 0.0 if variance <= 0 else (positive - mean) / math.sqrt(variance)


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return min(high, max(low, value))
