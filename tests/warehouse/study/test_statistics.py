"""transforms.study_statistics against scipy on known data, and the degenerate cases."""

from __future__ import annotations

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
    expected = stats.ttest_ind(BEFORE, AFTER, equal_var=True)
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
    expected = stats.ttest_rel(BEFORE, AFTER)
    assert (paired.statistic, paired.p_value) == (
        pytest.approx(expected.statistic),
        pytest.approx(expected.pvalue),
    )
    signed = wilcoxon_signed_rank(BEFORE, AFTER)
    expected = stats.wilcoxon(BEFORE, AFTER)
    assert (signed.statistic, signed.p_value) == (
        pytest.approx(expected.statistic),
        pytest.approx(expected.pvalue),
    )


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
    # Constant non-zero differences still rank: every difference positive.
    assert wilcoxon_signed_rank(same, shifted).p_value == pytest.approx(
        stats.wilcoxon(same, shifted).pvalue
    )
    with pytest.raises(ValueError, match="as many values"):
        paired_t([1.0, 2.0], [1.0])


def test_zero_differences_are_dropped_by_wilcoxon_as_scipy_does():
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    b = [1.0, 2.5, 2.0, 4.0, 7.0, 8.0]
    assert wilcoxon_signed_rank(a, b).p_value == pytest.approx(stats.wilcoxon(a, b).pvalue)


def test_compare_timepoints_uses_all_values_for_student_and_pairs_for_the_rest():
    pairs = [*zip(BEFORE, AFTER, strict=True), (50.0, None), (None, 20.0), (None, None)]
    result = compare_timepoints(pairs)
    assert (result.n, result.n_a, result.n_b) == (8, 9, 9)
    a_values, b_values = [*BEFORE, 50.0], [*AFTER, 20.0]
    assert result.p_student == pytest.approx(stats.ttest_ind(a_values, b_values).pvalue)
    assert result.p_paired == pytest.approx(stats.ttest_rel(BEFORE, AFTER).pvalue)
    assert result.p_wilcoxon == pytest.approx(stats.wilcoxon(BEFORE, AFTER).pvalue)
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
