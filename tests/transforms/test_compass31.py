"""COMPASS-31 scorer against compass31.md: points, gates, M1-M4, rounding, adapters, bulk scoring."""

from __future__ import annotations

import dataclasses
import random
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import compass31
from transforms.compass31 import (
    ALWAYS_ASKED,
    DOMAIN_CODES,
    DOMAINS,
    FOLLOW_UPS,
    GATES,
    SCORER_VERSION,
    Answers,
    answers_from_csv_row,
    answers_from_item_rows,
    score_answers,
    score_item_table,
)
from transforms.sql_on_fhir import compile_view, load_resources, run_view
from transforms.sql_on_fhir.schema import R4B
from transforms.synth import questionnaire as synth
from transforms.synth.chart import QuestionnaireForm, questionnaire_response
from transforms.views import load_views

# The spec's tables, transcribed here on purpose instead of read from the module: a wrong entry
# in the scorer must not be able to correct its own test. Points of options 1..n (section 3).
TREND_6 = (3, 2, 1, 0, 0, 0)
TREND_7 = (0, 3, 2, 1, 0, 0, 0)
YES_NO = (1, 0)
FREQUENCY = (0, 1, 2, 3)
SEVERITY = (1, 2, 3)
NEVER_SOMETIMES_OFTEN = (0, 1, 2)
SPEC_POINTS = {
    1: YES_NO, 2: FREQUENCY, 3: SEVERITY, 4: TREND_6,
    5: YES_NO, 7: TREND_6,
    8: (1, 0, 0, 1, 2), 9: YES_NO, 10: YES_NO, 11: TREND_7,
    12: (2, 1, 0, 0, 0), 13: NEVER_SOMETIMES_OFTEN, 14: NEVER_SOMETIMES_OFTEN,
    15: NEVER_SOMETIMES_OFTEN, 16: YES_NO, 17: FREQUENCY, 18: SEVERITY, 19: TREND_6,
    20: YES_NO, 21: FREQUENCY, 22: SEVERITY, 23: TREND_6,
    24: FREQUENCY, 25: FREQUENCY, 26: FREQUENCY,
    27: FREQUENCY, 28: SEVERITY, 29: FREQUENCY, 30: SEVERITY, 31: TREND_7,
}  # fmt: skip
SPEC_TICKS = {(): 0, (1,): 1, (2,): 1, (1, 2): 2}
SPEC_GATES = {  # gate -> (closing option, follow-ups)
    1: (2, (2, 3, 4)),
    5: (2, (6, 7)),
    16: (2, (17, 18, 19)),
    20: (2, (21, 22, 23)),
    27: (1, (28,)),
    29: (1, (30,)),
}
SPEC_ALWAYS_ASKED = (1, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 25, 26, 27, 29, 31)
SPEC_FOLLOW_UPS = (2, 3, 4, 6, 7, 17, 18, 19, 21, 22, 23, 28, 30)
SPEC_DOMAINS = {  # code -> (items, raw max, weighted max)
    "OI": ((1, 2, 3, 4), 10, 40),
    "VM": ((5, 6, 7), 6, 5),
    "SM": ((8, 9, 10, 11), 7, 15),
    "GI": (tuple(range(12, 24)), 28, 25),
    "BL": ((24, 25, 26), 9, 10),
    "PM": ((27, 28, 29, 30, 31), 15, 5),
}
SPEC_WEIGHT = {
    "OI": Fraction(4),
    "VM": Fraction(5, 6),
    "SM": Fraction(15, 7),
    "GI": Fraction(25, 28),
    "BL": Fraction(10, 9),
    "PM": Fraction(1, 3),
}
DOMAIN_OF = {item: code for code, (items, _, _) in SPEC_DOMAINS.items() for item in items}
GATE_OF = {item: gate for gate, (_, items) in SPEC_GATES.items() for item in items}

# Every gate open, every item answered, points spread out (none all-zero, none all-max).
BASE = {
    1: 1, 2: 2, 3: 2, 4: 3, 5: 1, 6: (1,), 7: 2, 8: 3, 9: 1, 10: 2, 11: 3,
    12: 2, 13: 2, 14: 1, 15: 3, 16: 1, 17: 2, 18: 1, 19: 4, 20: 1, 21: 3, 22: 2, 23: 1,
    24: 2, 25: 1, 26: 3, 27: 2, 28: 2, 29: 3, 30: 1, 31: 4,
}  # fmt: skip
MINIMUM = {
    1: 2, 5: 2, 8: 3, 9: 2, 10: 2, 11: 1, 12: 3, 13: 1, 14: 1, 15: 1, 16: 2, 20: 2,
    24: 1, 25: 1, 26: 1, 27: 1, 29: 1, 31: 1,
}  # fmt: skip
MAXIMUM = {
    1: 1, 2: 4, 3: 3, 4: 1, 5: 1, 6: (1, 2), 7: 1, 8: 5, 9: 1, 10: 1, 11: 2,
    12: 1, 13: 3, 14: 3, 15: 3, 16: 1, 17: 4, 18: 3, 19: 1, 20: 1, 21: 4, 22: 3, 23: 1,
    24: 4, 25: 4, 26: 4, 27: 4, 28: 3, 29: 4, 30: 3, 31: 2,
}  # fmt: skip


def spec_points(item, answer):
    return SPEC_TICKS[tuple(answer)] if item == 6 else SPEC_POINTS[item][answer - 1]


def spec_raw(answers, code):
    """Raw points of a complete response whose gates are all open (no skip logic needed)."""
    return sum(spec_points(item, answers[item]) for item in SPEC_DOMAINS[code][0])


BASE_RAW = {code: spec_raw(BASE, code) for code in SPEC_DOMAINS}


def without(answers, *items):
    return {item: answer for item, answer in answers.items() if item not in items}


def assert_other_domains_as_base(score, *changed):
    for code in DOMAIN_CODES:
        if code not in changed:
            assert score.raw[code] == BASE_RAW[code], code
            assert score.weighted[code] == BASE_RAW[code] * SPEC_WEIGHT[code], code


# --- instrument tables ------------------------------------------------------------------------


def test_tables_match_the_spec():
    assert {item: tuple(points.values()) for item, points in compass31.OPTION_POINTS.items()} == (
        SPEC_POINTS
    )
    assert all(
        list(points) == list(range(1, len(points) + 1))
        for points in compass31.OPTION_POINTS.values()
    )
    assert dict(compass31.TICK_BOX_POINTS) == {1: 1, 2: 1}
    assert {gate: (g.closed_by, g.follow_ups) for gate, g in GATES.items()} == SPEC_GATES
    assert ALWAYS_ASKED == SPEC_ALWAYS_ASKED and len(ALWAYS_ASKED) == 18
    assert FOLLOW_UPS == SPEC_FOLLOW_UPS and len(FOLLOW_UPS) == 13
    assert sorted(ALWAYS_ASKED + FOLLOW_UPS) == list(range(1, 32))
    assert DOMAIN_CODES == ("OI", "VM", "SM", "GI", "BL", "PM")
    assert {d.code: (d.items, d.raw_max, d.weighted_max) for d in DOMAINS} == SPEC_DOMAINS
    assert {d.code: d.weight for d in DOMAINS} == SPEC_WEIGHT
    assert all(isinstance(d.weight, Fraction) for d in DOMAINS)
    assert sum(d.weighted_max for d in DOMAINS) == 100
    assert isinstance(SCORER_VERSION, str) and SCORER_VERSION


def test_raw_maxima_follow_from_the_item_tables():
    for code, (items, raw_max, _) in SPEC_DOMAINS.items():
        item_maxima = [2 if item == 6 else max(SPEC_POINTS[item]) for item in items]
        assert sum(item_maxima) == raw_max, code


def test_generator_point_tables_agree_with_the_spec():
    # Three independent copies (spec transcription here, scorer, generator) must agree.
    assert dict(synth.OPTION_POINTS) == SPEC_POINTS
    assert synth.GATES == SPEC_GATES
    assert tuple(synth.ALWAYS_ASKED) == SPEC_ALWAYS_ASKED


# --- every option of every item ---------------------------------------------------------------


def _closes_gate(item, option):
    return item in SPEC_GATES and option == SPEC_GATES[item][0]


@pytest.mark.parametrize(
    ("item", "option"),
    [
        (item, option)
        for item, points in SPEC_POINTS.items()
        for option in range(1, len(points) + 1)
    ],
)
def test_every_option_of_every_item_scores_its_points(item, option):
    answers = {**BASE, item: option}
    score = score_answers(answers)
    code = DOMAIN_OF[item]
    expected = BASE_RAW[code] - spec_points(item, BASE[item]) + SPEC_POINTS[item][option - 1]
    if _closes_gate(item, option):
        # The follow-ups keep their answers but score 0 (M3) and are reported as stray.
        follow_ups = SPEC_GATES[item][1]
        expected -= sum(spec_points(f, BASE[f]) for f in follow_ups)
        assert score.stray_follow_ups == follow_ups
    else:
        assert score.stray_follow_ups == ()
    assert score.raw[code] == expected
    assert score.weighted[code] == expected * SPEC_WEIGHT[code]
    assert_other_domains_as_base(score, code)
    assert score.total == sum(score.weighted.values())
    assert not score.incomplete and score.missing_items == () and score.invalid_items == ()


@pytest.mark.parametrize(("ticks", "points"), sorted(SPEC_TICKS.items()))
def test_item_6_scores_one_point_per_ticked_box(ticks, points):
    score = score_answers({**BASE, 6: ticks})
    assert score.raw["VM"] == 1 + points + SPEC_POINTS[7][BASE[7] - 1]
    assert_other_domains_as_base(score, "VM")


@pytest.mark.parametrize("ticks", [[2, 1], {1, 2}, frozenset({2, 1}), (1, 2)])
def test_item_6_accepts_any_collection_of_ticks(ticks):
    assert score_answers({**BASE, 6: ticks}).raw["VM"] == 1 + 2 + 2


def test_item_6_nothing_ticked_is_an_answer_not_missing():
    ticked_nothing = score_answers({**BASE, 6: ()})
    assert ticked_nothing.raw["VM"] == 1 + 0 + 2
    assert not ticked_nothing.incomplete and ticked_nothing.missing_items == ()
    unanswered = score_answers(without(BASE, 6))
    assert unanswered.raw["VM"] == 1 + 0 + 2
    assert unanswered.incomplete and unanswered.missing_items == (6,)


def test_item_8_is_not_linear():
    sm_without_8 = BASE_RAW["SM"] - spec_points(8, BASE[8])
    by_option = [score_answers({**BASE, 8: o}).raw["SM"] - sm_without_8 for o in range(1, 6)]
    assert by_option == [1, 0, 0, 1, 2]


# --- gates and skip logic ---------------------------------------------------------------------


@pytest.mark.parametrize("gate", sorted(SPEC_GATES))
def test_open_gate_scores_its_follow_ups(gate):
    closing, follow_ups = SPEC_GATES[gate]
    open_option = next(o for o in range(1, len(SPEC_POINTS[gate]) + 1) if o != closing)
    score = score_answers({**BASE, gate: open_option})
    code = DOMAIN_OF[gate]
    expected = BASE_RAW[code] - spec_points(gate, BASE[gate]) + SPEC_POINTS[gate][open_option - 1]
    assert score.raw[code] == expected
    assert sum(spec_points(f, BASE[f]) for f in follow_ups) > 0  # the follow-ups do count here
    assert score.stray_follow_ups == () and not score.incomplete


@pytest.mark.parametrize("gate", sorted(SPEC_GATES))
def test_closed_gate_without_follow_up_answers_is_complete(gate):
    closing, follow_ups = SPEC_GATES[gate]
    score = score_answers({**without(BASE, *follow_ups), gate: closing})
    code = DOMAIN_OF[gate]
    skipped = (gate, *follow_ups)
    assert score.raw[code] == BASE_RAW[code] - sum(spec_points(i, BASE[i]) for i in skipped)
    assert score.stray_follow_ups == () and score.missing_items == ()
    assert not score.incomplete and score.total is not None
    assert_other_domains_as_base(score, code)


@pytest.mark.parametrize("gate", sorted(SPEC_GATES))
def test_stray_follow_ups_after_a_closed_gate_score_zero(gate):
    closing, follow_ups = SPEC_GATES[gate]
    # Worst possible stray answers: a naive sum would add the follow-ups' maxima.
    strays = {item: MAXIMUM[item] for item in follow_ups}
    with_strays = score_answers({**BASE, **strays, gate: closing})
    clean = score_answers({**without(BASE, *follow_ups), gate: closing})
    assert with_strays.raw == clean.raw and with_strays.total == clean.total
    assert with_strays.stray_follow_ups == follow_ups
    assert not with_strays.incomplete


def test_invalid_stray_answer_after_a_closed_gate_is_listed_and_harmless():
    score = score_answers({**BASE, 5: 2, 6: (3,), 7: 99})
    assert score.raw["VM"] == 0
    assert score.invalid_items == (6, 7) and score.stray_follow_ups == (6, 7)
    assert not score.incomplete and score.total is not None


def test_a_naive_sum_would_be_wrong():
    # Every follow-up answered at its worst while every gate is closed.
    closed = {gate: closing for gate, (closing, _) in SPEC_GATES.items()}
    score = score_answers({**MAXIMUM, **closed})
    assert score.stray_follow_ups == SPEC_FOLLOW_UPS
    assert score.raw == {"OI": 0, "VM": 0, "SM": 7, "GI": 8, "BL": 9, "PM": 3}
    assert score.total == 15 + Fraction(25 * 8, 28) + 10 + 1
    assert not score.incomplete


def test_items_11_and_31_are_scored_when_their_screens_are_negative():
    negative = {**BASE, 9: 2, 10: 2, 27: 1, 29: 1, 11: 2, 31: 2}  # both "much worse" (3)
    score = score_answers(negative)
    assert score.raw["SM"] == spec_points(8, BASE[8]) + 0 + 0 + 3
    assert score.raw["PM"] == 0 + 0 + 0 + 0 + 3  # 28 and 30 are stray behind closed gates
    assert score.stray_follow_ups == (28, 30)
    assert score.warnings == (
        "items 9, 10 negative but 11 scored",
        "items 27, 29 negative but 31 scored",
    )
    assert score.total == sum(score.raw[c] * SPEC_WEIGHT[c] for c in DOMAIN_CODES)


@pytest.mark.parametrize("consistent", [1, 5, 6, 7])
def test_no_warning_when_item_11_earns_nothing(consistent):
    score = score_answers({**BASE, 9: 2, 10: 2, 11: consistent})
    assert score.warnings == ()


def test_no_warning_when_only_one_screen_is_negative():
    assert score_answers({**BASE, 9: 2, 10: 1, 11: 2}).warnings == ()
    assert score_answers({**BASE, 27: 1, 29: 2, 31: 2}).warnings == ()


# --- missing data -----------------------------------------------------------------------------


@pytest.mark.parametrize("item", SPEC_ALWAYS_ASKED)
def test_m1_missing_always_asked_item_nulls_its_domain_and_the_total(item):
    code = DOMAIN_OF[item]
    for answers in (without(BASE, item), {**BASE, item: None}):
        score = score_answers(answers)
        assert score.raw[code] is None and score.weighted[code] is None
        assert score.weighted_rounded[code] is None
        assert score.total is None and score.total_rounded is None
        assert score.incomplete and score.missing_items == (item,)
        assert_other_domains_as_base(score, code)


@pytest.mark.parametrize("item", SPEC_ALWAYS_ASKED)
def test_m1_invalid_always_asked_answer_nulls_its_domain(item):
    code = DOMAIN_OF[item]
    score = score_answers({**BASE, item: 9})
    assert score.invalid_items == (item,) and score.missing_items == (item,)
    assert score.raw[code] is None and score.total is None
    assert_other_domains_as_base(score, code)


@pytest.mark.parametrize("item", SPEC_FOLLOW_UPS)
def test_m2_missing_follow_up_of_an_open_gate_scores_zero_and_flags(item):
    code = DOMAIN_OF[item]
    score = score_answers(without(BASE, item))
    assert score.raw[code] == BASE_RAW[code] - spec_points(item, BASE[item])
    assert score.incomplete and score.missing_items == (item,)
    assert score.total == sum(score.weighted.values())
    assert_other_domains_as_base(score, code)


@pytest.mark.parametrize("item", SPEC_FOLLOW_UPS)
def test_m2_null_domain_switch(item):
    code = DOMAIN_OF[item]
    score = score_answers(without(BASE, item), missing_follow_up="null_domain")
    assert score.raw[code] is None and score.weighted[code] is None and score.total is None
    assert score.incomplete and score.missing_items == (item,)
    assert_other_domains_as_base(score, code)
    # A complete response scores the same under either policy.
    assert score_answers(BASE, missing_follow_up="null_domain") == score_answers(BASE)


def test_m2_does_not_apply_to_follow_ups_of_a_closed_gate():
    score = score_answers({**without(BASE, 28), 27: 1}, missing_follow_up="null_domain")
    assert score.raw["PM"] == 0 + 0 + 2 + 1 + 1 and not score.incomplete


def test_unanswered_gate_nulls_the_domain_and_leaves_its_follow_ups_unlisted():
    score = score_answers(without(BASE, 1, 2, 3, 4))
    assert score.raw["OI"] is None and score.missing_items == (1,)


def test_m4_no_proration():
    # OI with its severity item missing: raw is the answered points, not scaled to 4 items.
    score = score_answers(without(BASE, 3))
    assert score.raw["OI"] == 1 + 1 + 1
    assert score.weighted["OI"] == 12
    # A response with half the domains answered still has no total.
    half = {item: BASE[item] for item in range(1, 12)}
    assert score_answers(half).total is None


def test_empty_response_scores_nothing():
    score = score_answers({})
    assert all(value is None for value in score.raw.values())
    assert score.total is None and score.missing_items == SPEC_ALWAYS_ASKED


# --- invalid answers --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 5, 9, True, "1", 1.0, (1,), [2]])
def test_invalid_option_of_an_open_gate_follow_up(bad):
    score = score_answers({**BASE, 2: bad})
    assert score.invalid_items == (2,) and score.missing_items == (2,)
    assert score.raw["OI"] == BASE_RAW["OI"] - spec_points(2, BASE[2])
    assert score.incomplete


@pytest.mark.parametrize("bad", [(3,), (0,), (1, 3), (True,), ("1",), 1, 0, "12", "", b"1"])
def test_invalid_tick_boxes(bad):
    score = score_answers({**BASE, 6: bad})
    assert score.invalid_items == (6,) and score.missing_items == (6,)
    assert score.raw["VM"] == 1 + 0 + 2


def test_item_out_of_range_is_a_caller_error():
    with pytest.raises(ValueError, match="item number"):
        score_answers({**BASE, 32: 1})
    with pytest.raises(ValueError, match="item number"):
        score_answers({0: 1})
    with pytest.raises(ValueError, match="missing_follow_up"):
        score_answers(BASE, missing_follow_up="prorate")


# --- extremes, exact weights, rounding --------------------------------------------------------


def test_minimum_response_scores_zero():
    score = score_answers(MINIMUM)
    assert score.raw == dict.fromkeys(DOMAIN_CODES, 0)
    assert score.total == 0 and score.total_rounded == 0.0
    assert not score.incomplete and score.warnings == ()


def test_maximum_response_scores_exactly_100():
    score = score_answers(MAXIMUM)
    assert score.raw == {code: raw_max for code, (_, raw_max, _) in SPEC_DOMAINS.items()}
    assert score.weighted == {code: Fraction(w) for code, (_, _, w) in SPEC_DOMAINS.items()}
    assert score.total == 100 and isinstance(score.total, Fraction)
    assert score.total_rounded == 100.0
    assert score.weighted_rounded == {"OI": 40, "VM": 5, "SM": 15, "GI": 25, "BL": 10, "PM": 5}


def test_vasomotor_raw_3_weighs_exactly_2_5():
    # awell-score's 0.83333333 gives 2.49999999 and rounds it to 2 (compass31.md 8.2).
    score = score_answers({**BASE, 5: 1, 6: (1,), 7: 3})
    assert score.raw["VM"] == 3
    assert score.weighted["VM"] == Fraction(5, 2)
    assert score.weighted_rounded["VM"] == 2.5


def test_weighted_scores_are_exact_fractions():
    score = score_answers(BASE)
    for code in DOMAIN_CODES:
        assert isinstance(score.weighted[code], Fraction)
        assert score.weighted[code] == BASE_RAW[code] * SPEC_WEIGHT[code]
    assert score.total == sum(BASE_RAW[c] * SPEC_WEIGHT[c] for c in DOMAIN_CODES)
    assert (score.total * 252).denominator == 1  # compass31.md 6: a multiple of 1/252


@pytest.mark.parametrize(
    ("changes", "exact_total", "rounded_total", "sum_of_rounded"),
    [
        # GI raw 1 (25/28 = 0.892.. -> 0.89) + PM raw 1 (1/3 -> 0.33): 103/84 = 1.2261..
        ({13: 2, 31: 4}, Fraction(103, 84), 1.23, 1.22),
        # GI raw 2 (1.785.. -> 1.79) + PM raw 2 (0.666.. -> 0.67): 206/84 = 2.4523..
        ({13: 2, 14: 2, 31: 3}, Fraction(206, 84), 2.45, 2.46),
    ],
)
def test_total_is_rounded_from_unrounded_domains(
    changes, exact_total, rounded_total, sum_of_rounded
):
    score = score_answers({**MINIMUM, **changes})
    assert score.total == exact_total
    assert score.total_rounded == rounded_total
    assert round(sum(v for v in score.weighted_rounded.values()), 2) == sum_of_rounded
    assert sum_of_rounded != rounded_total  # the example does tell the two methods apart


def test_domains_round_to_two_decimals():
    score = score_answers({**MINIMUM, 8: 1, 13: 2})  # SM raw 1 = 15/7, GI raw 1 = 25/28
    assert score.weighted_rounded["SM"] == 2.14
    assert score.weighted_rounded["GI"] == 0.89
    assert score.total_rounded == 3.04  # 15/7 + 25/28 = 85/28 = 3.0357..


def test_round_half_up():
    assert compass31.round_half_up(Fraction(1, 8)) == 0.13  # banker's rounding gives 0.12
    assert compass31.round_half_up(Fraction(5, 8)) == 0.63
    assert compass31.round_half_up(Fraction(1249, 1000)) == 1.25
    assert compass31.round_half_up(Fraction(5, 8), 1) == 0.6
    assert compass31.round_half_up(Fraction(1, 200)) == 0.01


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mean=st.floats(0.0, 1.0))
def test_generated_forms_match_the_generators_own_scoring(seed, mean):
    rng = random.Random(seed)
    drawn = synth.draw_answers(rng, synth.latent_severity(rng, mean))
    score = score_answers({item: opts if item == 6 else opts[0] for item, opts in drawn.items()})
    expected_raw = synth.raw_domain_scores(drawn)
    assert score.raw == {d.code: expected_raw[d.name] for d in DOMAINS}
    assert float(score.total) == pytest.approx(synth.total_score(expected_raw), abs=1e-9)
    assert not score.incomplete and score.stray_follow_ups == () and score.invalid_items == ()


def _any_answer(item):
    if item == 6:
        return st.lists(st.sampled_from([1, 2]), max_size=2, unique=True).map(tuple)
    return st.integers(1, len(SPEC_POINTS[item]))


complete_forms = st.fixed_dictionaries({item: _any_answer(item) for item in range(1, 32)})


@settings(max_examples=300, deadline=None)
@given(answers=complete_forms)
def test_any_complete_form_scores_like_the_generator_after_skip_logic(answers):
    # The generator's scorer sums what is recorded; drop closed gates' follow-ups first.
    skipped = {
        item
        for gate, (closing, follow_ups) in SPEC_GATES.items()
        if answers[gate] == closing
        for item in follow_ups
    }
    recorded = {
        item: a if item == 6 else (a,) for item, a in answers.items() if item not in skipped
    }
    expected_raw = synth.raw_domain_scores(recorded)
    score = score_answers(answers)
    assert score.raw == {d.code: expected_raw[d.name] for d in DOMAINS}
    assert score.stray_follow_ups == tuple(sorted(skipped))
    # Stray answers change nothing but the stray list.
    clean = score_answers(without(answers, *skipped))
    assert score == dataclasses.replace(clean, stray_follow_ups=score.stray_follow_ups)
    assert 0 <= score.total <= 100
    assert score.total == sum(score.weighted.values())
    assert abs(score.total_rounded - float(score.total)) <= 0.005 + 1e-12
    assert score.total_rounded == round(float(score.total), 2)


# --- item-row adapter (core.questionnaire_items) ----------------------------------------------


def rows_of(answers, prefix="q"):
    """(link_id, answer_code, answer_value) rows as core.questionnaire_items holds coded answers."""
    rows = []
    for item, answer in answers.items():
        # The generator's and the CSV map's convention: nothing ticked is one answer coded "0".
        codes = ([str(box) for box in answer] or ["0"]) if item == 6 else [str(answer)]
        rows.extend((f"{prefix}{item}", code, None) for code in codes)
    return rows


def test_item_rows_with_codes_as_text():
    answers = answers_from_item_rows(rows_of(BASE))
    assert dict(answers) == BASE
    assert answers.unreadable_items == frozenset() and answers.unknown_link_ids == 0
    assert score_answers(answers) == score_answers(BASE)


@pytest.mark.parametrize("value", [5, 5.0, Decimal("5"), Decimal("5.000")])
def test_item_rows_with_numeric_values(value):
    # core.questionnaire_items.answer_value is DOUBLE (valueInteger 5 arrives as 5.0).
    rows = [row for row in rows_of(BASE) if row[0] != "q8"] + [("q8", None, value)]
    answers = answers_from_item_rows(rows)
    assert answers[8] == 5 and isinstance(answers[8], int)
    assert score_answers(answers).raw["SM"] == BASE_RAW["SM"] - 0 + 2  # option 3 -> 0, 5 -> 2


def test_item_rows_value_integer_scores_like_the_code():
    rows = [row for row in rows_of(BASE) if row[0] != "q31"] + [("q31", None, 2.0)]
    assert score_answers(answers_from_item_rows(rows)).raw["PM"] == BASE_RAW["PM"] - 1 + 3


def test_item_rows_item_6_ticks_and_nothing_ticked():
    rows = [row for row in rows_of(BASE) if row[0] != "q6"]
    both = answers_from_item_rows([*rows, ("q6", "2", None), ("q6", "1", None)])
    assert both[6] == (1, 2) and score_answers(both).raw["VM"] == 1 + 2 + 2
    nothing = answers_from_item_rows([*rows, ("q6", "0", None)])
    assert nothing[6] == ()
    assert score_answers(nothing).raw["VM"] == 1 + 0 + 2 and not score_answers(nothing).incomplete
    unanswered = answers_from_item_rows(rows)
    assert 6 not in unanswered and score_answers(unanswered).missing_items == (6,)


def test_item_rows_zero_beside_a_tick_is_invalid():
    rows = [row for row in rows_of(BASE) if row[0] != "q6"]
    score = score_answers(answers_from_item_rows([*rows, ("q6", "0", None), ("q6", "1", None)]))
    assert score.invalid_items == (6,) and score.incomplete


def test_item_rows_unknown_link_ids_are_ignored_and_counted():
    extra = [
        ("note", None, None),
        ("q32", "1", None),
        ("q0", "1", None),
        ("q01", "1", None),
        ("Q1", "2", None),
        ("q32", "2", None),  # same linkId again: counted once
    ]
    answers = answers_from_item_rows([*rows_of(BASE), *extra])
    assert dict(answers) == BASE
    assert answers.unknown_link_ids == 5
    score = score_answers(answers)
    assert score.unknown_link_ids == 5 and score.raw == score_answers(BASE).raw


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("abc", None),
        ("", None),
        ("1.5", None),
        ("²", None),
        (None, 2.5),
        (None, None),
        (None, True),
    ],
)
def test_item_rows_non_numeric_answers_make_the_item_invalid(code, value):
    rows = [row for row in rows_of(BASE) if row[0] != "q9"] + [("q9", code, value)]
    answers = answers_from_item_rows(rows)
    assert 9 not in answers and answers.unreadable_items == {9}
    score = score_answers(answers)
    assert score.invalid_items == (9,) and score.raw["SM"] is None and score.total is None


def test_item_rows_several_answers_to_a_single_choice_item():
    rows = [row for row in rows_of(BASE) if row[0] != "q2"]
    conflicting = score_answers(
        answers_from_item_rows([*rows, ("q2", "1", None), ("q2", "4", None)])
    )
    assert conflicting.invalid_items == (2,) and conflicting.missing_items == (2,)
    repeated = answers_from_item_rows([*rows, ("q2", "3", None), ("q2", "3", None)])
    assert repeated[2] == 3 and repeated.unreadable_items == frozenset()


def test_item_rows_out_of_range_code_is_invalid_not_unreadable():
    # The planted defect: q1 = yes, q2 = "9" (transforms/synth/defects.py).
    rows = [row for row in rows_of(BASE) if row[0] != "q2"] + [("q2", "9", None)]
    answers = answers_from_item_rows(rows)
    assert answers[2] == 9
    score = score_answers(answers)
    assert score.invalid_items == (2,) and score.missing_items == (2,) and score.incomplete


def test_item_rows_with_another_prefix():
    answers = answers_from_item_rows(rows_of(BASE, "compass-"), link_id_prefix="compass-")
    assert dict(answers) == BASE
    assert answers_from_item_rows(rows_of(BASE, "compass-")).unknown_link_ids == 31


def test_through_the_questionnaire_items_view(con):
    """Generator resource -> core view -> scorer: how each answer really arrives in core rows."""
    form = QuestionnaireForm("http://example.org/fhir/Questionnaire/compass-31", "q")
    forms = {
        "r-ticks": {**BASE, 6: (1, 2)},
        "r-none-ticked": {**BASE, 6: ()},
        "r-closed": {**without(BASE, 2, 3, 4, 28), 1: 2, 27: 1},
    }
    resources = [
        questionnaire_response(
            response_id,
            form,
            "Patient/p1",
            "Encounter/e1",
            "2024-03-01T10:00:00Z",
            {item: a if item == 6 else (a,) for item, a in answers.items()},
        )
        for response_id, answers in forms.items()
    ]
    view = load_views()["questionnaire_items"]
    load_resources(con, resources, "res")
    rows = run_view(con, compile_view(view, R4B), "res")
    ticked_nothing = [
        r for r in rows if r["response_id"] == "r-none-ticked" and r["link_id"] == "q6"
    ]
    assert [(r["answer_code"], r["answer_value"]) for r in ticked_nothing] == [("0", None)]
    table = score_item_table(
        (r["response_id"], r["link_id"], r["answer_code"], r["answer_value"]) for r in rows
    )
    assert table == {response_id: score_answers(answers) for response_id, answers in forms.items()}
    assert table["r-none-ticked"].raw["VM"] == 1 + 0 + 2
    assert not any(score.incomplete for score in table.values())


# --- score_item_table -------------------------------------------------------------------------


def _generated_forms(count, seed=31):
    rng = random.Random(seed)
    forms = {}
    for number in range(count):
        drawn = synth.draw_answers(rng, synth.latent_severity(rng))
        forms[f"r{number}"] = {item: o if item == 6 else o[0] for item, o in drawn.items()}
    return forms


def test_score_item_table_many_responses_in_any_row_order():
    forms = _generated_forms(3000)
    forms["r-missing"] = without(BASE, 12)
    forms["r-follow-up-missing"] = without(BASE, 17)
    rows = [(rid, *row) for rid, answers in forms.items() for row in rows_of(answers)]
    random.Random(7).shuffle(rows)
    started = time.perf_counter()
    table = score_item_table(rows)
    elapsed = time.perf_counter() - started
    assert table == {rid: score_answers(answers) for rid, answers in forms.items()}
    assert table["r-missing"].raw["GI"] is None and table["r-follow-up-missing"].incomplete
    # Measured at about 0.1 s; the bound leaves room for a loaded machine.
    assert elapsed < 2.0, f"{len(forms)} responses took {elapsed:.2f} s"


def test_score_item_table_passes_the_missing_follow_up_switch():
    rows = [("r1", *row) for row in rows_of(without(BASE, 17))]
    assert score_item_table(rows)["r1"].raw["GI"] == BASE_RAW["GI"] - 1
    assert score_item_table(rows, missing_follow_up="null_domain")["r1"].raw["GI"] is None


def test_score_item_table_keeps_responses_apart():
    rows = [("a", *row) for row in rows_of(MINIMUM)] + [("b", *row) for row in rows_of(MAXIMUM)]
    table = score_item_table(rows[::-1])
    assert table["a"].total == 0 and table["b"].total == 100


# --- CSV adapter ------------------------------------------------------------------------------


def csv_row_of(answers):
    row = {"Id": "r1", "PATIENT": "p1", "QUESTIONNAIRE": "http://example.org/q"}
    for item in range(1, 32):
        answer = answers.get(item)
        if item == 6 and answer is not None:
            row["Q6"] = ";".join(str(box) for box in answer) or "0"
        else:
            row[f"Q{item}"] = "" if answer is None else str(answer)
    return row


def test_csv_row_round_trip():
    assert dict(answers_from_csv_row(csv_row_of(BASE))) == BASE
    assert dict(answers_from_csv_row(csv_row_of(MAXIMUM))) == MAXIMUM
    assert dict(answers_from_csv_row(csv_row_of(MINIMUM))) == MINIMUM


@pytest.mark.parametrize(
    ("cell", "ticks"),
    [
        ("1;2", (1, 2)),
        ("2;1", (1, 2)),
        ("2", (2,)),
        ("0", ()),
        (" 1 ; 2 ", (1, 2)),
        ("1;;2", (1, 2)),
    ],
)
def test_csv_q6_ticks(cell, ticks):
    answers = answers_from_csv_row({**csv_row_of(BASE), "Q6": cell})
    assert answers[6] == ticks


@pytest.mark.parametrize("cell", ["", "  ", ";", None])
def test_csv_empty_cell_is_unanswered(cell):
    answers = answers_from_csv_row({**csv_row_of(BASE), "Q6": cell, "Q12": cell})
    assert 6 not in answers and 12 not in answers
    assert score_answers(answers).missing_items == (6, 12)


def test_csv_q6_zero_is_nothing_ticked_not_missing():
    score = score_answers(answers_from_csv_row({**csv_row_of(BASE), "Q6": "0"}))
    assert score.raw["VM"] == 1 + 0 + 2 and not score.incomplete


@pytest.mark.parametrize(
    ("column", "cell"), [("Q2", "abc"), ("Q2", "1;2"), ("Q6", "1;x"), ("Q6", "hands")]
)
def test_csv_malformed_cells_are_invalid(column, cell):
    answers = answers_from_csv_row({**csv_row_of(BASE), column: cell})
    item = int(column[1:])
    assert answers.unreadable_items == {item}
    assert score_answers(answers).invalid_items == (item,)


def test_csv_out_of_range_options_are_invalid():
    score = score_answers(answers_from_csv_row({**csv_row_of(BASE), "Q2": "9", "Q6": "0;1"}))
    assert score.invalid_items == (2, 6)


def test_csv_headers_as_normalised_and_unknown_q_columns():
    row = {header.lower(): value for header, value in csv_row_of(BASE).items()}
    row[" Q32 "] = "1"
    row["Q33"] = ""  # empty: nothing to count
    row["QUESTIONNAIRE"] = "x"
    answers = answers_from_csv_row(row)
    assert dict(answers) == BASE and answers.unknown_link_ids == 1


def test_answers_repr_and_attributes():
    answers = Answers({1: 2}, unreadable_items=[9], unknown_link_ids=3)
    assert answers == {1: 2} and answers.unreadable_items == {9} and answers.unknown_link_ids == 3
    assert "unreadable_items=[9]" in repr(answers)
