"""The evaluation's statistics against published worked examples.

Newcombe RG (1998), "Interval estimation for the difference between independent proportions: comparison of eleven
methods", Statistics in Medicine 17: 873-890, Table II, method 10 (the hybrid score interval without continuity
correction). Note: 56/70 − 48/80 is 0.8 − 0.6 = 0.2000, and its method-10 interval is 0.0524 to 0.3339
(0.0428 is the lower limit of method 11, the continuity-corrected variant, which this module does not use).
"""
import pytest

from portal.services.evaluation_stats import newcombe_difference, wilson

TABLE_II_METHOD_10 = [
    ((56, 70, 48, 80), 0.2000, (0.0524, 0.3339)),  # (a)
    ((9, 10, 3, 10), 0.6000, (0.1705, 0.8090)),  # (b)
    ((6, 7, 2, 7), 0.5714, (0.0582, 0.8062)),  # (c)
    ((5, 56, 0, 29), 0.0893, (-0.0381, 0.1926)),  # (d)
    ((0, 10, 0, 20), 0.0000, (-0.1611, 0.2775)),  # (e)
    ((0, 10, 0, 10), 0.0000, (-0.2775, 0.2775)),  # (f)
    ((10, 10, 0, 20), 1.0000, (0.6791, 1.0000)),  # (g)
    ((10, 10, 0, 10), 1.0000, (0.6075, 1.0000)),  # (h)
]


@pytest.mark.parametrize(("counts", "estimate", "interval"), TABLE_II_METHOD_10,
                         ids=[f"{a}/{b}-{c}/{d}" for (a, b, c, d), _, _ in TABLE_II_METHOD_10])
def test_newcombe_matches_the_papers_table(counts, estimate, interval):
    difference = newcombe_difference(*counts)
    assert difference.estimate == pytest.approx(estimate, abs=5e-5)
    assert difference.interval.lower == pytest.approx(interval[0], abs=5e-5)
    assert difference.interval.upper == pytest.approx(interval[1], abs=5e-5)


def test_wilson_matches_newcombes_single_proportion_examples():
    """Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17: 857-872, Table I,
    method 3 (Wilson score): 81/263 → 0.2553 to 0.3662; 15/148 → 0.0624 to 0.1605; 0/20 → 0 to 0.1611."""
    for (k, n), (low, high) in [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)),
                                ((0, 20), (0.0, 0.1611)), ((1, 29), (0.0061, 0.1718))]:
        interval = wilson(k, n)
        assert interval.lower == pytest.approx(low, abs=5e-5), (k, n)
        assert interval.upper == pytest.approx(high, abs=5e-5), (k, n)


def test_the_bounds_are_exact_at_none_and_all():
    assert wilson(0, 7).lower == 0.0
    assert wilson(7, 7).upper == 1.0


def test_the_difference_is_antisymmetric():
    forward, backward = newcombe_difference(9, 10, 3, 10), newcombe_difference(3, 10, 9, 10)
    assert backward.estimate == pytest.approx(-forward.estimate)
    assert backward.interval.lower == pytest.approx(-forward.interval.upper)
    assert backward.interval.upper == pytest.approx(-forward.interval.lower)


def test_could_be_chance_when_the_interval_includes_zero():
    assert newcombe_difference(5, 56, 0, 29).could_be_chance
    assert not newcombe_difference(56, 70, 48, 80).could_be_chance


@pytest.mark.parametrize("counts", [(1, 0, 1, 1), (2, 1, 1, 1), (-1, 5, 1, 1), (1, 1, 1, 0)])
def test_impossible_counts_are_refused(counts):
    with pytest.raises(ValueError):
        newcombe_difference(*counts)
