"""The statistics of the internship evaluation: proportions with Wilson score intervals, and the difference of two
independent proportions with Newcombe's hybrid score interval. Pure functions: nothing from Flask or the database.

Why these intervals: the groups are small (a cohort of a dozen or two), and the simple Wald interval
(p ± 1.96·√(p(1−p)/n)) is too narrow there and breaks down at 0% or 100%. Wilson's score interval behaves at
small n and at the extremes; Newcombe's method 10 combines the two groups' Wilson intervals into an interval for
the difference that keeps close to its nominal 95% coverage.

References:
- E. B. Wilson (1927), "Probable inference, the law of succession, and statistical inference",
  Journal of the American Statistical Association 22: 209–212.
- R. G. Newcombe (1998), "Interval estimation for the difference between independent proportions: comparison
  of eleven methods", Statistics in Medicine 17: 873–890 (method 10, the hybrid score interval without
  continuity correction; its worked examples are this module's tests).
"""
import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile: a two-sided 95% interval


@dataclass(frozen=True)
class Interval:
    lower: float
    upper: float

    def includes(self, value: float) -> bool:
        return self.lower <= value <= self.upper


@dataclass(frozen=True)
class Difference:
    """p1 − p2 with its 95% interval."""

    p1: float
    p2: float
    estimate: float
    interval: Interval

    @property
    def could_be_chance(self) -> bool:
        """The interval includes no difference at all."""
        return self.interval.includes(0.0)


def _check(successes: int, n: int) -> None:
    if n <= 0:
        raise ValueError("a proportion needs at least one observation")
    if not 0 <= successes <= n:
        raise ValueError("successes must lie between 0 and n")


def wilson(successes: int, n: int, z: float = Z_95) -> Interval:
    """Wilson's score interval for the proportion successes/n (Wilson 1927; Newcombe 1998, method 3)."""
    _check(successes, n)
    p = successes / n
    z2 = z * z
    centre = (2 * n * p + z2) / (2 * (n + z2))
    half = z * math.sqrt(z2 + 4 * n * p * (1 - p)) / (2 * (n + z2))
    # At 0 or n successes the bound is exactly 0 or 1; rounding must not leave it a hair outside [0, 1].
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(lower, upper)


def newcombe_difference(successes1: int, n1: int, successes2: int, n2: int, z: float = Z_95) -> Difference:
    """The difference p1 − p2 of two independent proportions with Newcombe's hybrid score interval
    (Newcombe 1998, method 10):

        L = d − √((p1 − l1)² + (u2 − p2)²),   U = d + √((u1 − p1)² + (p2 − l2)²)

    where (l1, u1) and (l2, u2) are the Wilson score intervals of p1 and p2 and d = p1 − p2.
    """
    _check(successes1, n1)
    _check(successes2, n2)
    p1, p2 = successes1 / n1, successes2 / n2
    first, second = wilson(successes1, n1, z), wilson(successes2, n2, z)
    d = p1 - p2
    lower = d - math.sqrt((p1 - first.lower) ** 2 + (second.upper - p2) ** 2)
    upper = d + math.sqrt((first.upper - p1) ** 2 + (p2 - second.lower) ** 2)
    return Difference(p1, p2, d, Interval(max(-1.0, lower), min(1.0, upper)))
