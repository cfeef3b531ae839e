"""COMPASS-31 scoring (compass31.md): option numbers to exact domain and total scores, no I/O."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

__all__ = [
    "ALWAYS_ASKED",
    "DOMAINS",
    "DOMAIN_CODES",
    "FOLLOW_UPS",
    "GATES",
    "ITEMS",
    "MISSING_FOLLOW_UP_POLICIES",
    "OPTION_POINTS",
    "SCORER_VERSION",
    "TICK_BOX_POINTS",
    "TICK_ITEM",
    "Answers",
    "Compass31Score",
    "Domain",
    "Gate",
    "answers_from_csv_row",
    "answers_from_item_rows",
    "round_half_up",
    "score_answers",
    "score_item_table",
]

# Bump on any change to a point, weight, gate, missing-data rule or rounding: stored scores name
# the version that produced them.
SCORER_VERSION = "compass31-1.0.0"

ITEMS = tuple(range(1, 32))
"""Item numbers 1..31."""

# Options are numbered 1..n in the order printed on the standard English form (compass31.md
# section 2); each table maps option number -> points.
_YES_NO = MappingProxyType({1: 1, 2: 0})
_FREQUENCY = MappingProxyType({1: 0, 2: 1, 3: 2, 4: 3})
_SEVERITY = MappingProxyType({1: 1, 2: 2, 3: 3})
_NEVER_SOMETIMES_OFTEN = MappingProxyType({1: 0, 2: 1, 3: 2})
_TREND_6 = MappingProxyType({1: 3, 2: 2, 3: 1, 4: 0, 5: 0, 6: 0})
# Trend-7 = "I have not had any of these symptoms" (0 points) in front of Trend-6.
_TREND_7 = MappingProxyType({1: 0, 2: 3, 3: 2, 4: 1, 5: 0, 6: 0, 7: 0})

OPTION_POINTS: Mapping[int, Mapping[int, int]] = MappingProxyType(
    {
        1: _YES_NO, 2: _FREQUENCY, 3: _SEVERITY, 4: _TREND_6,
        5: _YES_NO, 7: _TREND_6,
        # Item 8 is not linear: much more 1, somewhat more 0, no change 0, somewhat less 1,
        # much less 2.
        8: MappingProxyType({1: 1, 2: 0, 3: 0, 4: 1, 5: 2}),
        9: _YES_NO, 10: _YES_NO, 11: _TREND_7,
        12: MappingProxyType({1: 2, 2: 1, 3: 0, 4: 0, 5: 0}),
        13: _NEVER_SOMETIMES_OFTEN, 14: _NEVER_SOMETIMES_OFTEN, 15: _NEVER_SOMETIMES_OFTEN,
        16: _YES_NO, 17: _FREQUENCY, 18: _SEVERITY, 19: _TREND_6,
        20: _YES_NO, 21: _FREQUENCY, 22: _SEVERITY, 23: _TREND_6,
        24: _FREQUENCY, 25: _FREQUENCY, 26: _FREQUENCY,
        27: _FREQUENCY, 28: _SEVERITY, 29: _FREQUENCY, 30: _SEVERITY, 31: _TREND_7,
    }
)  # fmt: skip
"""Item -> (option number -> points) for every single-choice item (all but item 6)."""

TICK_ITEM = 6
"""The "tick all that apply" item: its answer is the collection of ticked boxes."""

TICK_BOX_POINTS: Mapping[int, int] = MappingProxyType({1: 1, 2: 1})
"""Item 6 box -> points when ticked: 1 = hands, 2 = feet. Nothing ticked is a valid answer (0)."""


class Gate(NamedTuple):
    """A screening item: the option that closes it and the follow-ups it then skips."""

    closed_by: int
    follow_ups: tuple[int, ...]


GATES: Mapping[int, Gate] = MappingProxyType(
    {
        1: Gate(2, (2, 3, 4)),  # No
        5: Gate(2, (6, 7)),  # No
        16: Gate(2, (17, 18, 19)),  # No
        20: Gate(2, (21, 22, 23)),  # No
        27: Gate(1, (28,)),  # Never
        29: Gate(1, (30,)),  # Never
    }
)
"""Gate item -> Gate (compass31.md section 4)."""

ALWAYS_ASKED = (1, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 25, 26, 27, 29, 31)
"""The 18 items every respondent answers; 11 and 31 are among them (never gated)."""

FOLLOW_UPS = (2, 3, 4, 6, 7, 17, 18, 19, 21, 22, 23, 28, 30)
"""The 13 items asked only when their gate is open."""


@dataclass(frozen=True)
class Domain:
    """A COMPASS-31 domain: its items and the maxima its exact weight derives from."""

    code: str
    name: str
    items: tuple[int, ...]
    raw_max: int
    weighted_max: int

    @property
    def weight(self) -> Fraction:
        """Exact weight: weighted maximum / raw maximum (e.g. 5/6 for vasomotor)."""
        return Fraction(self.weighted_max, self.raw_max)


DOMAINS: tuple[Domain, ...] = (
    Domain("OI", "orthostatic_intolerance", (1, 2, 3, 4), 10, 40),
    Domain("VM", "vasomotor", (5, 6, 7), 6, 5),
    Domain("SM", "secretomotor", (8, 9, 10, 11), 7, 15),
    Domain("GI", "gastrointestinal", tuple(range(12, 24)), 28, 25),
    Domain("BL", "bladder", (24, 25, 26), 9, 10),
    Domain("PM", "pupillomotor", (27, 28, 29, 30, 31), 15, 5),
)
"""The six domains in reporting order; weighted maxima add up to 100."""

DOMAIN_CODES = tuple(domain.code for domain in DOMAINS)
"""("OI", "VM", "SM", "GI", "BL", "PM"): the key order of every score dict."""

MISSING_FOLLOW_UP_POLICIES = ("zero", "null_domain")
"""M2 as written ("zero": score 0, flag incomplete) and its stricter switch (domain null)."""

# Both are always scored; these screens only feed a warning when they contradict item 11 / 31
# (compass31.md section 4, rule 2): scored item -> (screen item, its negative option).
_CONSISTENCY_SCREENS = (
    (11, ((9, 2), (10, 2))),
    (31, ((27, 1), (29, 1))),
)

_ALWAYS_ASKED = frozenset(ALWAYS_ASKED)
# Every weighted domain is raw * weight, so the total is an integer count of 1/_TOTAL_SCALE
# (252); summing integers and building one Fraction keeps bulk scoring fast and still exact.
_TOTAL_SCALE = math.lcm(*(domain.weight.denominator for domain in DOMAINS))
_SCALED_WEIGHT = {domain.code: int(domain.weight * _TOTAL_SCALE) for domain in DOMAINS}
_WEIGHTED = {
    domain.code: tuple(raw * domain.weight for raw in range(domain.raw_max + 1))
    for domain in DOMAINS
}


def round_half_up(value: Fraction, places: int = 2) -> float:
    """Round an exact score for output, halves up (no exact tie can occur: compass31.md 6).

    Args:
        value: a non-negative exact score.
        places: decimals to keep.

    Returns:
        The nearest float to the rounded decimal.
    """
    scale = 10**places
    return math.floor(value * scale + Fraction(1, 2)) / scale


@dataclass(frozen=True)
class Compass31Score:
    """One response's COMPASS-31 scores, exact, with what the scorer had to leave out.

    Attributes:
        raw: domain code -> raw points, None when the domain cannot be scored (M1, or M2 under
            "null_domain"); keys in DOMAIN_CODES order.
        weighted: domain code -> exact weighted score (raw x weight), None like raw.
        total: exact sum of the unrounded weighted domains; None when any domain is None.
        incomplete: some item the respondent should have answered is not answered (missing_items
            is not empty), whether or not it nulled a domain.
        missing_items: always-asked items, and follow-ups of open gates, that are unanswered or
            carry an invalid answer. Follow-ups of closed or unanswered gates are not listed.
        invalid_items: items whose recorded answer is no option of the item (or no tick box);
            scored as unanswered.
        stray_follow_ups: follow-ups carrying an answer although their gate is closed; scored 0.
        warnings: value-free consistency notes naming items; they never change a score.
        unknown_link_ids: distinct linkIds / Q columns the adapter read that name no item.
    """

    raw: dict[str, int | None]
    weighted: dict[str, Fraction | None]
    total: Fraction | None
    incomplete: bool
    missing_items: tuple[int, ...]
    invalid_items: tuple[int, ...]
    stray_follow_ups: tuple[int, ...]
    warnings: tuple[str, ...]
    unknown_link_ids: int = 0

    @property
    def weighted_rounded(self) -> dict[str, float | None]:
        """Domain code -> weighted score rounded to 2 decimals (None stays None)."""
        return {
            code: None if value is None else round_half_up(value)
            for code, value in self.weighted.items()
        }

    @property
    def total_rounded(self) -> float | None:
        """The exact total rounded to 2 decimals: never the sum of rounded domains."""
        return None if self.total is None else round_half_up(self.total)


class Answers(dict[int, int | tuple[int, ...]]):
    """Item number -> answer as an adapter read it, plus what the adapter could not use.

    Values: the option number, or for item 6 the sorted tuple of ticked boxes (empty = answered,
    nothing ticked). Unanswered items are absent. score_answers() reports `unreadable_items` as
    invalid; plain dict copies lose these attributes.

    Attributes:
        unreadable_items: items with an answer that is no option number (non-numeric code, string
            or boolean answer, several different answers to a single-choice item).
        unknown_link_ids: distinct linkIds (or Q columns) that name no COMPASS-31 item.
    """

    def __init__(
        self,
        answers: Mapping[int, int | tuple[int, ...]] | None = None,
        *,
        unreadable_items: Iterable[int] = (),
        unknown_link_ids: int = 0,
    ) -> None:
        super().__init__(answers or {})
        self.unreadable_items = frozenset(unreadable_items)
        self.unknown_link_ids = unknown_link_ids

    def __repr__(self) -> str:
        return (
            f"Answers({dict.__repr__(self)}, unreadable_items={sorted(self.unreadable_items)}, "
            f"unknown_link_ids={self.unknown_link_ids})"
        )


def score_answers(
    answers: Mapping[int, int | Collection[int] | None], *, missing_follow_up: str = "zero"
) -> Compass31Score:
    """Score one response exactly (compass31.md sections 3-6, missing data M1-M4).

    A closed gate scores its follow-ups 0 whatever was recorded (listed in stray_follow_ups).
    Items 11 and 31 are always scored. M1: an unanswered always-asked item nulls its domain and
    the total. M2: an unanswered follow-up of an open gate scores 0 and makes the score
    incomplete (or nulls its domain with missing_follow_up="null_domain"). M4: nothing is
    prorated or imputed. An answer that is no option of its item is scored as unanswered and
    listed in invalid_items.

    Args:
        answers: item number (1..31) -> option number (1-based int), or for item 6 the
            collection of ticked boxes (1 = hands, 2 = feet; empty = nothing ticked); None or
            absent = unanswered. An Answers mapping also contributes its unreadable items.
        missing_follow_up: "zero" (M2 as written) or "null_domain" (the stricter switch).

    Returns:
        The exact scores, rounded views, and what was missing, invalid or stray.

    Raises:
        ValueError: on an unknown policy or a key that is not an item number 1..31.
    """
    if missing_follow_up not in MISSING_FOLLOW_UP_POLICIES:
        raise ValueError(
            f"missing_follow_up must be one of {MISSING_FOLLOW_UP_POLICIES}, "
            f"not {missing_follow_up!r}"
        )
    unknown_keys = [key for key in answers if not _is_item_number(key)]
    if unknown_keys:
        raise ValueError(f"answers has keys that are no COMPASS-31 item number: {unknown_keys!r}")
    valid: dict[int, int | frozenset[int]] = {}
    invalid: set[int] = set()
    if isinstance(answers, Answers):
        invalid.update(answers.unreadable_items)
    for item, answer in answers.items():
        if answer is None:
            continue
        checked = _checked_answer(item, answer)
        if checked is None:
            invalid.add(item)
        else:
            valid[item] = checked
    unknown = answers.unknown_link_ids if isinstance(answers, Answers) else 0
    return _score(valid, invalid, missing_follow_up, unknown)


def _is_item_number(key: object) -> bool:
    return isinstance(key, int) and not isinstance(key, bool) and 1 <= key <= 31


def _is_option_number(value: object) -> bool:
    # bool is an int subclass, but True is no option number.
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_answer(item: int, answer: object) -> int | frozenset[int] | None:
    """The answer if it is one the item offers, else None (invalid)."""
    if item == TICK_ITEM:
        if isinstance(answer, str | bytes) or not isinstance(answer, Collection):
            return None
        ticks = frozenset(answer)
        if all(_is_option_number(box) and box in TICK_BOX_POINTS for box in ticks):
            return ticks
        return None
    if _is_option_number(answer) and answer in OPTION_POINTS[item]:
        return answer
    return None


def _score(
    answers: Mapping[int, int | frozenset[int]],
    invalid: set[int],
    missing_follow_up: str,
    unknown_link_ids: int,
) -> Compass31Score:
    """Score answers already checked against the item tables."""
    closed: set[int] = set()
    opened: set[int] = set()
    for gate_item, gate in GATES.items():
        gate_answer = answers.get(gate_item)
        if gate_answer == gate.closed_by:
            closed.update(gate.follow_ups)
        elif gate_answer is not None:
            opened.update(gate.follow_ups)
        # An unanswered gate nulls its domain (M1), so its follow-ups' state does not matter.

    points: dict[int, int] = {}
    missing: list[int] = []
    stray: list[int] = []
    for item in ITEMS:
        answer = answers.get(item)
        if item in closed:
            if answer is not None or item in invalid:
                stray.append(item)
            points[item] = 0
        elif answer is None:
            if item in _ALWAYS_ASKED or item in opened:
                missing.append(item)
            points[item] = 0
        elif isinstance(answer, frozenset):
            points[item] = sum(TICK_BOX_POINTS[box] for box in answer)
        else:
            points[item] = OPTION_POINTS[item][answer]

    missing_set = set(missing)
    raw: dict[str, int | None] = {}
    weighted: dict[str, Fraction | None] = {}
    scaled_total = 0
    for domain in DOMAINS:
        domain_missing = missing_set.intersection(domain.items)
        nulled = bool(domain_missing & _ALWAYS_ASKED) or (
            missing_follow_up == "null_domain" and bool(domain_missing)
        )
        if nulled:
            raw[domain.code] = weighted[domain.code] = None
            scaled_total = None
            continue
        domain_raw = sum(points[item] for item in domain.items)
        raw[domain.code] = domain_raw
        weighted[domain.code] = _WEIGHTED[domain.code][domain_raw]
        if scaled_total is not None:
            scaled_total += domain_raw * _SCALED_WEIGHT[domain.code]
    total = None if scaled_total is None else Fraction(scaled_total, _TOTAL_SCALE)

    warnings = []
    for scored_item, screens in _CONSISTENCY_SCREENS:
        # Only points contradict the screens: "never had" or "gone" agrees with them.
        if points[scored_item] > 0 and all(answers.get(i) == negative for i, negative in screens):
            screen_items = ", ".join(str(item) for item, _ in screens)
            warnings.append(f"items {screen_items} negative but {scored_item} scored")

    return Compass31Score(
        raw=raw,
        weighted=weighted,
        total=total,
        incomplete=bool(missing),
        missing_items=tuple(missing),
        invalid_items=tuple(sorted(invalid)),
        stray_follow_ups=tuple(stray),
        warnings=tuple(warnings),
        unknown_link_ids=unknown_link_ids,
    )


# ---------------------------------------------------------------------------------------------
# Input adapters


@lru_cache(maxsize=8)
def _items_by_link_id(link_id_prefix: str) -> Mapping[str, int]:
    # Exact linkIds only: "q01" or "Q1" is not how the questionnaire names item 1.
    return {f"{link_id_prefix}{item}": item for item in ITEMS}


# The codes real answers carry, looked up instead of parsed (bulk scoring reads one per row).
_OPTION_CODES = {str(number): number for number in range(10)}


def _option_from_code(code: str) -> int | None:
    option = _OPTION_CODES.get(code)
    if option is not None:
        return option
    text = code.strip()
    # isascii() keeps out digits such as "²" that str.isdigit() accepts and int() rejects.
    return int(text) if text.isascii() and text.isdigit() else None


def _option_from_value(value: object) -> int | None:
    """answer_value (DOUBLE in core, from valueInteger/valueDecimal): integral numbers only."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal | Fraction):
        try:
            return int(value) if value == int(value) else None
        except (OverflowError, ValueError):  # inf, NaN
            return None
    return None


def _assemble(found: Mapping[int, list[int | None]], unknown_link_ids: int) -> Answers:
    """Answers from item -> option numbers read (None = an answer that is no number)."""
    answers: dict[int, int | tuple[int, ...]] = {}
    unreadable: set[int] = set()
    for item, options in found.items():
        if None in options:
            unreadable.add(item)
        elif item == TICK_ITEM:
            ticks = set(options)
            # The CSV map and the generator write "nothing ticked" as the single code "0";
            # "0" beside a real tick stays in and makes the answer invalid.
            answers[item] = () if ticks == {0} else tuple(sorted(ticks))
        elif len(set(options)) == 1:
            answers[item] = options[0]
        else:
            unreadable.add(item)
    return Answers(answers, unreadable_items=unreadable, unknown_link_ids=unknown_link_ids)


def answers_from_item_rows(
    rows: Iterable[tuple[str, str | None, object]], link_id_prefix: str = "q"
) -> Answers:
    """Answers of ONE response from its core.questionnaire_items rows.

    Args:
        rows: (link_id, answer_code, answer_value) per answer row. answer_code is the option
            number as text (valueCoding); answer_value is numeric (valueInteger, DOUBLE in core)
            and is read only when answer_code is null. Item 6 has one row per ticked box, or one
            row with code "0" when nothing is ticked. A row of an item with neither (a string
            or boolean answer), a non-numeric code or a non-integral value makes that item
            unreadable; several different answers to a single-choice item too.
        link_id_prefix: the linkId prefix of the form (QuestionnaireForm.link_id_prefix).

    Returns:
        Answers; rows of linkIds outside prefix1..prefix31 are ignored and counted.
    """
    items_by_link_id = _items_by_link_id(link_id_prefix)
    found: dict[int, list[int | None]] = defaultdict(list)
    unknown: set[str] = set()
    for link_id, code, value in rows:
        item = items_by_link_id.get(link_id)
        if item is None:
            unknown.add(link_id)
            continue
        option = _option_from_code(code) if code is not None else _option_from_value(value)
        found[item].append(option)
    return _assemble(found, len(unknown))


def score_item_table(
    rows: Iterable[tuple[str, str, str | None, object]],
    link_id_prefix: str = "q",
    *,
    missing_follow_up: str = "zero",
) -> dict[str, Compass31Score]:
    """Score many responses from core.questionnaire_items rows in one pass.

    Only responses with at least one row are scored: core carries answered items only, so a
    response with no answered item must be scored by the caller (score_answers({})).

    Args:
        rows: (response_id, link_id, answer_code, answer_value), in any order.
        link_id_prefix: the linkId prefix of the form.
        missing_follow_up: M2 policy, as in score_answers().

    Returns:
        response_id -> score, in order of first appearance.
    """
    by_response: dict[str, list[tuple[str, str | None, object]]] = defaultdict(list)
    for response_id, link_id, code, value in rows:
        by_response[response_id].append((link_id, code, value))
    return {
        response_id: score_answers(
            answers_from_item_rows(response_rows, link_id_prefix),
            missing_follow_up=missing_follow_up,
        )
        for response_id, response_rows in by_response.items()
    }


_CSV_ANSWER_COLUMN = re.compile(r"q([1-9][0-9]*)")


def answers_from_csv_row(row: Mapping[str, str | None]) -> Answers:
    """Answers from the Q1..Q31 columns of a questionnaire_responses.csv row.

    The convention of transforms/sources/maps/questionnaire.yaml: a cell holds the option number;
    Q6 holds the ticked boxes separated by ';', "0" = answered with nothing ticked; an empty
    cell is unanswered. Headers are matched as the CSV reader normalises them (trimmed, any
    case). Where the CSV reader drops a malformed value (counted unparseable), this adapter marks
    the item unreadable, so the score lists it as invalid rather than silently missing.

    Args:
        row: header -> cell text (other columns are ignored).

    Returns:
        Answers; Q columns beyond Q31 are counted as unknown.
    """
    found: dict[int, list[int | None]] = {}
    unknown = 0
    for header, cell in row.items():
        match = _CSV_ANSWER_COLUMN.fullmatch(header.strip().lower())
        text = (cell or "").strip()
        if match is None or not text:
            continue
        item = int(match[1])
        if item not in OPTION_POINTS and item != TICK_ITEM:
            unknown += 1
            continue
        # Only Q6 is split: a ';' in any other cell is no single option number.
        parts = [part.strip() for part in text.split(";")] if item == TICK_ITEM else [text]
        # Like the CSV reader, empty parts are dropped: ";" alone is no answer, not "no ticks".
        options = [_option_from_code(part) for part in parts if part]
        if options:
            found[item] = options
    return _assemble(found, unknown)
