"""Study statistics: Student's, paired t and Wilcoxon signed-rank comparisons of two timepoints.

Pure functions over numbers (scipy.stats), no I/O. A test that cannot be computed (too few
values, no variance, every difference zero) gives a NULL statistic and p-value and says why in a
note, instead of scipy's NaN and warnings.

Sign convention: every signed result is "b minus a" (the later timepoint minus the earlier), so a
positive t goes with a positive mean difference: scipy is called as ttest_ind(b, a) and
ttest_rel(b, a), and the Wilcoxon test ranks the differences b - a.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scipy import stats

__all__ = [
    "Comparison",
    "SignificanceTest",
    "compare_timepoints",
    "describe",
    "paired_t",
    "student_t",
    "wilcoxon_signed_rank",
]


@dataclass(frozen=True)
class SignificanceTest:
    """One test: statistic and two-sided p-value, or None for both with the reason in `note`."""

    statistic: float | None
    p_value: float | None
    note: str | None = None


@dataclass(frozen=True)
class Comparison:
    """Two timepoints compared on one score (one row of study.tests, without its keys).

    Attributes:
        n: patients with a value at both timepoints (the paired tests use these).
        n_a, n_b: values at timepoint a / b (Student's two-sample test uses all of them).
        mean_a, sd_a, mean_b, sd_b: mean and sample SD (n - 1) of all values at a / b.
        mean_difference: mean_b - mean_a (the difference Student's test tests).
        mean_paired_difference, sd_paired_difference: mean and SD of b - a over the pairs.
        t_student, p_student: Student's two-sample t-test (equal variances, as published).
        t_paired, p_paired: paired t-test on the pairs.
        w_wilcoxon, p_wilcoxon: Wilcoxon signed-rank test on the pairs (zero differences
            dropped; exact p without ties or zeros, else the tie-corrected normal approximation
            with continuity correction, as R's wilcox.test).
        note: why a test has no result, if any did not run ("; "-separated), else None.
    """

    n: int
    n_a: int
    n_b: int
    mean_a: float | None
    sd_a: float | None
    mean_b: float | None
    sd_b: float | None
    mean_difference: float | None
    mean_paired_difference: float | None
    sd_paired_difference: float | None
    t_student: float | None
    p_student: float | None
    t_paired: float | None
    p_paired: float | None
    w_wilcoxon: float | None
    p_wilcoxon: float | None
    note: str | None


def describe(values: Sequence[float]) -> tuple[int, float | None, float | None]:
    """Count, mean and sample standard deviation (n - 1); None where undefined.

    Args:
        values: the numbers (no None).
    """
    n = len(values)
    mean = statistics.fmean(values) if n else None
    sd = statistics.stdev(values) if n >= 2 else None
    return n, mean, sd


def student_t(a: Sequence[float], b: Sequence[float]) -> SignificanceTest:
    """Student's two-sample t-test with pooled variance (scipy ttest_ind, equal_var=True).

    Args:
        a, b: the two groups' values.

    Returns:
        t (mean b - mean a over its standard error: scipy's ttest_ind(b, a)) and the two-sided
        p-value; None with a note when a group has fewer than two values or neither group
        varies.
    """
    if len(a) < 2 or len(b) < 2:
        return SignificanceTest(None, None, "Student's t needs at least two values per timepoint")
    if _constant(a) and _constant(b):
        return SignificanceTest(
            None, None, "Student's t undefined: no variance within either timepoint"
        )
    return _scipy(stats.ttest_ind, b, a, equal_var=True)


def paired_t(a: Sequence[float], b: Sequence[float]) -> SignificanceTest:
    """Paired t-test (scipy ttest_rel) of b against a.

    Args:
        a, b: paired values, same length and order.

    Returns:
        t (mean of b - a over its standard error: scipy's ttest_rel(b, a)) and the two-sided
        p-value; None with a note for fewer than two pairs or differences that do not vary.
    """
    _check_pairs(a, b)
    if len(a) < 2:
        return SignificanceTest(None, None, "paired t needs at least two pairs")
    differences = [y - x for x, y in zip(a, b, strict=True)]
    if _constant(differences):
        reason = "every difference is zero" if differences[0] == 0 else "differences do not vary"
        return SignificanceTest(None, None, f"paired t undefined: {reason}")
    return _scipy(stats.ttest_rel, b, a)


def wilcoxon_signed_rank(a: Sequence[float], b: Sequence[float]) -> SignificanceTest:
    """Wilcoxon signed-rank test of the differences b - a, two-sided.

    Zero differences are dropped before ranking (zero_method "wilcox", as R's wilcox.test).
    The exact null distribution (scipy, method "exact") holds only for distinct non-zero
    differences: with tied absolute differences or dropped zeros the p-value is the normal
    approximation with the tie-corrected variance and a continuity correction of 0.5, which is
    what R's ``wilcox.test(b - a, correct = TRUE)`` reports (scipy's "auto" would stay exact for
    small samples even with ties, which the exact distribution does not allow).

    Args:
        a, b: paired values, same length and order.

    Returns:
        W (the smaller of the signed-rank sums) and the two-sided p-value; None with a note when
        no pair differs.
    """
    _check_pairs(a, b)
    if not a:
        return SignificanceTest(None, None, "Wilcoxon needs at least one pair")
    differences = [y - x for x, y in zip(a, b, strict=True)]
    non_zero = [difference for difference in differences if difference != 0]
    if not non_zero:
        return SignificanceTest(None, None, "Wilcoxon undefined: every difference is zero")
    magnitudes = [abs(difference) for difference in non_zero]
    if len(non_zero) == len(differences) and len(set(magnitudes)) == len(magnitudes):
        return _scipy(stats.wilcoxon, non_zero, zero_method="wilcox", method="exact")
    return _wilcoxon_normal_approximation(non_zero)


def _wilcoxon_normal_approximation(non_zero: Sequence[float]) -> SignificanceTest:
    """The normal approximation of R's wilcox.test (correct = TRUE) for non-zero differences.

    V = sum of the (average) ranks of |d| over the positive d; E[V] = n(n + 1)/4;
    Var[V] = n(n + 1)(2n + 1)/24 - sum(t^3 - t)/48 over the groups of t tied |d|;
    z = (V - E[V] - 0.5 sign(V - E[V])) / sqrt(Var[V]); p = 2 P(Z > |z|).
    """
    n = len(non_zero)
    ranks = stats.rankdata([abs(difference) for difference in non_zero])  # ties: average rank
    positive_sum = float(sum(rank for rank, d in zip(ranks, non_zero, strict=True) if d > 0))
    negative_sum = n * (n + 1) / 2 - positive_sum
    tie_sizes = Counter(abs(difference) for difference in non_zero).values()
    variance = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in tie_sizes) / 48
    deviation = positive_sum - n * (n + 1) / 4
    z = (deviation - math.copysign(0.5, deviation) * (deviation != 0)) / math.sqrt(variance)
    p_value = min(1.0, 2 * float(stats.norm.sf(abs(z))))
    return SignificanceTest(min(positive_sum, negative_sum), p_value)


def compare_timepoints(pairs: Iterable[tuple[float | None, float | None]]) -> Comparison:
    """Compare one score between two timepoints, one (a, b) pair per patient.

    None marks a missing value: Student's test uses every value present at each timepoint, the
    paired tests only the patients with both.

    Args:
        pairs: (value at timepoint a, value at timepoint b) per patient.

    Returns:
        Descriptives and the three tests.
    """
    pairs = list(pairs)
    a_values = [a for a, _ in pairs if a is not None]
    b_values = [b for _, b in pairs if b is not None]
    complete = [(a, b) for a, b in pairs if a is not None and b is not None]
    paired_a = [a for a, _ in complete]
    paired_b = [b for _, b in complete]
    n_a, mean_a, sd_a = describe(a_values)
    n_b, mean_b, sd_b = describe(b_values)
    _, mean_paired, sd_paired = describe([b - a for a, b in complete])
    student = student_t(a_values, b_values)
    paired = paired_t(paired_a, paired_b)
    signed_rank = wilcoxon_signed_rank(paired_a, paired_b)
    notes = [test.note for test in (student, paired, signed_rank) if test.note]
    return Comparison(
        n=len(complete),
        n_a=n_a,
        n_b=n_b,
        mean_a=mean_a,
        sd_a=sd_a,
        mean_b=mean_b,
        sd_b=sd_b,
        mean_difference=None if mean_a is None or mean_b is None else mean_b - mean_a,
        mean_paired_difference=mean_paired,
        sd_paired_difference=sd_paired,
        t_student=student.statistic,
        p_student=student.p_value,
        t_paired=paired.statistic,
        p_paired=paired.p_value,
        w_wilcoxon=signed_rank.statistic,
        p_wilcoxon=signed_rank.p_value,
        note="; ".join(notes) or None,
    )


def _constant(values: Sequence[float]) -> bool:
    return all(value == values[0] for value in values)


def _check_pairs(a: Sequence[float], b: Sequence[float]) -> None:
    if len(a) != len(b):
        raise ValueError(f"paired tests need as many values in a ({len(a)}) as in b ({len(b)})")


def _scipy(test, *args, **kwargs) -> SignificanceTest:
    """Run a scipy test; a non-finite result (a case the checks above missed) becomes None."""
    with warnings.catch_warnings():
        # Nearly constant data trigger "precision loss" warnings; the result is still checked.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = test(*args, **kwargs)
    statistic, p_value = float(result.statistic), float(result.pvalue)
    if not (math.isfinite(statistic) and math.isfinite(p_value)):
        return SignificanceTest(None, None, f"{test.__name__} gave no finite result")
    return SignificanceTest(statistic, p_value)
