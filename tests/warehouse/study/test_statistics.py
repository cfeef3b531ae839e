"""transforms.study_statistics against scipy and hand-derived values, and the degenerate cases."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from transforms.study_statistics import (
    compare_timepoints,
    describe,
    paired_t,
    student_t,
    wilcoxon_signed_rank,
)

BEFORE = [38.5, 41.2, 22.0, 57.9, 33.3, 45.0, 29.4, 61.1]
AFTER = [35.0, 44.8, 20.1, 50.2, 36.9, 39.5, 30.0, 52.3]


def test_describe():
    n, mean, sd = describe([1.0, 2.0, 4.0])
    assert (n, mean, sd) == (3, pytest.approx(7 / 3), pytest.approx(1.527525231651947))
    assert describe([5.0]) == (1, 5.0, None)
    assert describe([]) == (0, None, None)


def test_student_t_is_scipys_pooled_variance_test():
    expected = stats.ttest_ind(AFTER, BEFORE, equal_var=True)
    result = student_t(BEFORE, AFTER)
    assert (result.statistic, result.p_value) == (
        pytest.approx(expected.statistic),
        pytest.approx(expected.pvalue),
    )
    assert result.note is None
    # Unequal group sizes are fine for the two-sample test.
    uneven = student_t(BEFORE, AFTER[:5])
    assert uneven.p_value == pytest.approx(stats.ttest_ind(BEFORE, AFTER[:5]).pvalue)


def test_paired_t_and_wilcoxon_are_scipys():
    paired = paired_t(BEFORE, AFTER)
    expected = stats.ttest_rel(AFTER, BEFORE)
    assert (paired.statistic, paired.p_value) == (
        pytest.approx(expected.statistic),
        pytest.approx(expected.pvalue),
    )
    # Eight distinct non-zero differences: the exact distribution applies.
    signed = wilcoxon_signed_rank(BEFORE, AFTER)
    expected = stats.wilcoxon(BEFORE, AFTER, method="exact")
    assert (signed.statistic, signed.p_value) == (
        pytest.approx(expected.statistic),
        pytest.approx(expected.pvalue),
    )


def test_signed_results_are_b_minus_a():
    """t and the mean difference carry the same sign: every signed column is b - a."""
    lower, higher = [1.0, 2.0, 3.0, 4.5], [2.0, 3.5, 3.5, 6.0]
    assert student_t(lower, higher).statistic > 0
    assert paired_t(lower, higher).statistic > 0
    assert student_t(higher, lower).statistic < 0
    assert paired_t(higher, lower).statistic < 0
    for a, b in ((BEFORE, AFTER), (AFTER, BEFORE), (lower, higher)):
        result = compare_timepoints(zip(a, b, strict=True))
        assert math.copysign(1, result.t_student) == math.copysign(1, result.mean_difference)
        assert math.copysign(1, result.t_paired) == math.copysign(1, result.mean_paired_difference)


def _normal_p(z: float) -> float:
    """Two-sided p of a standard normal z: 2 P(Z > |z|) = erfc(|z| / sqrt 2)."""
    return math.erfc(abs(z) / math.sqrt(2))


def test_wilcoxon_with_ties_is_the_tie_corrected_normal_approximation():
    # R's wilcox.test(d, correct = TRUE) with ties (it warns it cannot compute an exact p):
    # z = (V - n(n + 1)/4 - 0.5 sign) / sqrt(n(n + 1)(2n + 1)/24 - sum(t^3 - t)/48). By hand:
    # |d| = 1 1 2 2 3 3 3 4, average ranks 1.5 1.5 3.5 3.5 6 6 6 8 (sum 36); the one negative
    # difference (-1) has rank 1.5, so V = 36 - 1.5 = 34.5 and W = min(34.5, 1.5) = 1.5;
    # ties: two of size 2, one of size 3.
    differences = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, -1.0, 4.0]
    n = 8
    v = 36 - 1.5
    variance = n * (n + 1) * (2 * n + 1) / 24 - ((2**3 - 2) + (2**3 - 2) + (3**3 - 3)) / 48
    z = (v - n * (n + 1) / 4 - 0.5) / math.sqrt(variance)
    result = wilcoxon_signed_rank([0.0] * n, differences)
    assert result.statistic == 1.5
    assert result.p_value == pytest.approx(_normal_p(z), rel=1e-12)
    assert result.p_value == pytest.approx(0.02400, abs=5e-6)
    # Not the exact distribution, which assumes no ties.
    exact = stats.wilcoxon(differences, method="exact").pvalue
    assert result.p_value != pytest.approx(exact, rel=1e-3)


def test_wilcoxon_with_zeros_drops_them_before_ranking_as_r_does():
    # d = b - a = 0, 0.5, -1, 0, 2, 2: zeros dropped (R; zero_method "wilcox"), n = 4,
    # |d| ranks 1, 2, 3.5, 3.5; V = 1 + 3.5 + 3.5 = 8, E[V] = 5,
    # Var[V] = 4 * 5 * 9 / 24 - (2^3 - 2) / 48 = 7.375, z = (8 - 5 - 0.5) / sqrt(7.375).
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    b = [1.0, 2.5, 2.0, 4.0, 7.0, 8.0]
    result = wilcoxon_signed_rank(a, b)
    assert result.statistic == 2.0  # min(8, 10 - 8)
    assert result.p_value == pytest.approx(_normal_p(2.5 / math.sqrt(7.375)), rel=1e-12)
    assert result.p_value == pytest.approx(0.35727, abs=5e-6)


def test_wilcoxon_zeros_alone_also_leave_the_exact_distribution():
    # Distinct non-zero |d| 1, 2, 3 and one zero: approximation, n = 3, V = 1 + 2 + 3 = 6,
    # E[V] = 3, Var[V] = 3 * 4 * 7 / 24 = 3.5, z = (6 - 3 - 0.5) / sqrt(3.5).
    result = wilcoxon_signed_rank([0.0] * 4, [1.0, 2.0, 3.0, 0.0])
    assert result.statistic == 0.0
    assert result.p_value == pytest.approx(_normal_p(2.5 / math.sqrt(3.5)), rel=1e-12)


def test_a_known_significant_difference():
    before = [10.0, 12.0, 11.0, 13.0, 12.5, 11.5, 10.5, 12.2]
    after = [value - 3 + 0.1 * i for i, value in enumerate(before)]
    assert paired_t(before, after).p_value < 0.001
    assert wilcoxon_signed_rank(before, after).p_value < 0.01


@pytest.mark.parametrize(
    ("a", "b", "note"),
    [
        ([1.0], [2.0, 3.0], "Student's t needs at least two values per timepoint"),
        ([], [], "Student's t needs at least two values per timepoint"),
        ([4.0, 4.0], [4.0, 4.0, 4.0], "Student's t undefined: no variance within either timepoint"),
        ([4.0, 4.0], [5.0, 5.0], "Student's t undefined: no variance within either timepoint"),
    ],
)
def test_student_t_degenerate(a, b, note):
    result = student_t(a, b)
    assert (result.statistic, result.p_value, result.note) == (None, None, note)


def test_paired_tests_degenerate():
    same = [3.0, 5.0, 8.0]
    assert paired_t(same, same).note == "paired t undefined: every difference is zero"
    assert paired_t(same, same).p_value is None
    shifted = [value + 1 for value in same]
    assert paired_t(same, shifted).note == "paired t undefined: differences do not vary"
    assert paired_t([1.0], [2.0]).note == "paired t needs at least two pairs"
    assert wilcoxon_signed_rank(same, same).note == "Wilcoxon undefined: every difference is zero"
    assert wilcoxon_signed_rank([], []).note == "Wilcoxon needs at least one pair"
    # Constant non-zero differences still rank: every difference positive, all |d| tied:
    # n = 3, V = 6, E[V] = 3, Var[V] = 3 * 4 * 7 / 24 - (3^3 - 3) / 48 = 3, z = 2.5 / sqrt(3).
    assert wilcoxon_signed_rank(same, shifted).p_value == pytest.approx(
        _normal_p(2.5 / math.sqrt(3)), rel=1e-12
    )
    with pytest.raises(ValueError, match="as many values"):
        paired_t([1.0, 2.0], [1.0])


def test_compare_timepoints_uses_all_values_for_student_and_pairs_for_the_rest():
    pairs = [*zip(BEFORE, AFTER, strict=True), (50.0, None), (None, 20.0), (None, None)]
    result = compare_timepoints(pairs)
    assert (result.n, result.n_a, result.n_b) == (8, 9, 9)
    a_values, b_values = [*BEFORE, 50.0], [*AFTER, 20.0]
    assert result.p_student == pytest.approx(stats.ttest_ind(b_values, a_values).pvalue)
    assert result.t_student == pytest.approx(stats.ttest_ind(b_values, a_values).statistic)
    assert result.p_paired == pytest.approx(stats.ttest_rel(AFTER, BEFORE).pvalue)
    assert result.p_wilcoxon == pytest.approx(stats.wilcoxon(AFTER, BEFORE, method="exact").pvalue)
    assert result.mean_a == pytest.approx(sum(a_values) / 9)
    assert result.mean_difference == pytest.approx(sum(b_values) / 9 - sum(a_values) / 9)
    assert result.mean_paired_difference == pytest.approx(sum(AFTER) / 8 - sum(BEFORE) / 8)
    assert result.note is None


def test_compare_timepoints_with_nothing_to_compare():
    result = compare_timepoints([(None, 1.0), (2.0, None)])
    assert (result.n, result.n_a, result.n_b) == (0, 1, 1)
    assert result.t_student is result.t_paired is result.w_wilcoxon is None
    assert result.mean_paired_difference is None and result.sd_a is None
    assert result.note == (
        "Student's t needs at least two values per timepoint; paired t needs at least two pairs; "
        "Wilcoxon needs at least one pair"
    )
