"""TEST HELPER ONLY: a small COMPASS-31 scorer written from compass31.md, to check the generator.

Deliberately independent of `transforms.synth` (which draws answers) and of the production scorer
(`transforms/compass31.py`, owned elsewhere): the generator's null-effect claim is checked against
the specification, not against its own tables. Complete forms only (the paper cohort's).
"""

from __future__ import annotations

_TREND_6 = {1: 3, 2: 2, 3: 1, 4: 0, 5: 0, 6: 0}
_TREND_7 = {1: 0, 2: 3, 3: 2, 4: 1, 5: 0, 6: 0, 7: 0}
_YES_NO = {1: 1, 2: 0}
_FREQUENCY = {1: 0, 2: 1, 3: 2, 4: 3}
_SEVERITY = {1: 1, 2: 2, 3: 3}
_NEVER_SOMETIMES_OFTEN = {1: 0, 2: 1, 3: 2}

# compass31.md section 3: option number -> points, per item (item 6 counts ticked boxes).
POINTS = {
    1: _YES_NO, 2: _FREQUENCY, 3: _SEVERITY, 4: _TREND_6,
    5: _YES_NO, 7: _TREND_6,
    8: {1: 1, 2: 0, 3: 0, 4: 1, 5: 2}, 9: _YES_NO, 10: _YES_NO, 11: _TREND_7,
    12: {1: 2, 2: 1, 3: 0, 4: 0, 5: 0}, 13: _NEVER_SOMETIMES_OFTEN, 14: _NEVER_SOMETIMES_OFTEN,
    15: _NEVER_SOMETIMES_OFTEN, 16: _YES_NO, 17: _FREQUENCY, 18: _SEVERITY, 19: _TREND_6,
    20: _YES_NO, 21: _FREQUENCY, 22: _SEVERITY, 23: _TREND_6,
    24: _FREQUENCY, 25: _FREQUENCY, 26: _FREQUENCY,
    27: _FREQUENCY, 28: _SEVERITY, 29: _FREQUENCY, 30: _SEVERITY, 31: _TREND_7,
}  # fmt: skip

# compass31.md section 4: gate -> (closing option, follow-ups scored 0 when closed).
GATES = {
    1: (2, (2, 3, 4)),
    5: (2, (6, 7)),
    16: (2, (17, 18, 19)),
    20: (2, (21, 22, 23)),
    27: (1, (28,)),
    29: (1, (30,)),
}

# compass31.md section 1: domain -> (items, weighted maximum, raw maximum).
DOMAINS = {
    "orthostatic_intolerance": ((1, 2, 3, 4), 40, 10),
    "vasomotor": ((5, 6, 7), 5, 6),
    "secretomotor": ((8, 9, 10, 11), 15, 7),
    "gastrointestinal": (tuple(range(12, 24)), 25, 28),
    "bladder": ((24, 25, 26), 10, 9),
    "pupillomotor": ((27, 28, 29, 30, 31), 5, 15),
}

ALWAYS_ASKED = (1, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 25, 26, 27, 29, 31)


def score(answers: dict[int, list[str]]) -> dict[str, float]:
    """Weighted domain scores and `total` of a complete form.

    Args:
        answers: item number -> answer codes as exported (item 6: ticked boxes, "0" for none).

    Returns:
        Domain name -> weighted score, plus `total` (sum of the unrounded domains).
    """
    missing = [item for item in ALWAYS_ASKED if item not in answers]
    assert not missing, f"incomplete form, always-asked items missing: {missing}"
    skipped = {
        follow_up
        for gate, (closing, follow_ups) in GATES.items()
        if int(answers[gate][0]) == closing
        for follow_up in follow_ups
    }
    scores: dict[str, float] = {}
    for domain, (items, weighted_max, raw_max) in DOMAINS.items():
        raw = 0
        for item in items:
            if item in skipped or item not in answers:
                continue
            if item == 6:
                raw += sum(1 for code in answers[6] if code in ("1", "2"))
            else:
                raw += POINTS[item][int(answers[item][0])]
        scores[domain] = raw * weighted_max / raw_max
    scores["total"] = sum(scores.values())
    return scores
