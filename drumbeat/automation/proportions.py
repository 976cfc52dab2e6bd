"""Statistics on proportions, for the results of splits and goals (automation/results.py).

- `wilson(x, n)`: the 95 % Wilson score interval of a rate x/n (right even for small n and
  rates near 0 or 1, where the textbook p ± 1.96·√(p(1-p)/n) interval is not).
- `difference(control, variant)`: the variant's rate minus the control's, with Newcombe's 95 %
  interval (method 10: built from the two Wilson intervals).
- `compare(control, variant, comparisons)`: the test of that difference. A two-sided
  two-proportion z-test (pooled) when every expected count of the 2×2 table is at least 5;
  otherwise Fisher's exact test (two-sided: the tables at most as likely as the observed one).
  With several variants against one control the 5 % level is shared among them
  (Bonferroni: each test at 0.05 / comparisons). The verdict is "not enough data yet" until the
  test can say something: while a group has fewer than MIN_PARTICIPANTS participants, or while
  even the most lopsided split of the conversions counted so far between the two groups would
  not be significant (`can_be_significant`: too few conversions to detect any difference).

Pure functions of counts: no database, no dependency (`math` only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal distribution
ALPHA = 0.05
MIN_PARTICIPANTS = 20
MIN_EXPECTED = 5  # below this expected count in a cell, the z-test's normal approximation fails

Z_TEST = "two-proportion z-test"
FISHER = "Fisher's exact test"

NOT_ENOUGH = "not enough data yet"
BETTER = "better"
WORSE = "worse"
NO_DIFFERENCE = "no significant difference"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high}


@dataclass(frozen=True)
class Comparison:
    """A variant against the control: difference of rates, its interval and the test."""

    difference: float | None  # variant rate - control rate
    interval: Interval | None  # Newcombe 95 %
    test: str  # Z_TEST or FISHER
    p_value: float | None
    alpha: float  # the level each test is held to (Bonferroni-shared)
    verdict: str  # NOT_ENOUGH, BETTER, WORSE or NO_DIFFERENCE

    @property
    def enough_data(self) -> bool:
        return self.verdict != NOT_ENOUGH

    @property
    def significant(self) -> bool:
        return self.verdict in (BETTER, WORSE)

    def as_dict(self) -> dict:
        return {
            "difference": self.difference,
            "interval": self.interval.as_dict() if self.interval else None,
            "test": self.test,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "verdict": self.verdict,
            "significant": self.significant,
        }


def rate(successes: int, n: int) -> float | None:
    return successes / n if n else None


def wilson(successes: int, n: int, z: float = Z95) -> Interval | None:
    """The Wilson score interval of successes/n; None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def difference(control: tuple[int, int], variant: tuple[int, int]) -> tuple[float, Interval]:
    """variant rate - control rate with Newcombe's hybrid score interval (both n > 0)."""
    (x1, n1), (x2, n2) = control, variant
    p1, p2 = x1 / n1, x2 / n2
    w1, w2 = wilson(x1, n1), wilson(x2, n2)
    assert w1 is not None and w2 is not None
    d = p2 - p1
    low = d - math.sqrt((p2 - w2.low) ** 2 + (w1.high - p1) ** 2)
    high = d + math.sqrt((w2.high - p2) ** 2 + (p1 - w1.low) ** 2)
    return d, Interval(low, high)


def z_test(control: tuple[int, int], variant: tuple[int, int]) -> tuple[float, float]:
    """Pooled two-proportion z statistic and its two-sided p-value."""
    (x1, n1), (x2, n2) = control, variant
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x2 / n2 - x1 / n1) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def fisher_exact(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """Two-sided p-value of Fisher's exact test on the 2×2 table of the two groups: the sum of
    the probabilities (hypergeometric, margins fixed) of every table no more likely than the
    observed one."""
    (x1, n1), (x2, n2) = control, variant
    total, successes = n1 + n2, x1 + x2
    low, high = max(0, successes - n2), min(successes, n1)

    def log_p(k: int) -> float:
        return _log_comb(successes, k) + _log_comb(total - successes, n1 - k) - _log_comb(total, n1)

    observed = log_p(x1)
    p = sum(math.exp(log_p(k)) for k in range(low, high + 1) if log_p(k) <= observed + 1e-7)
    return min(1.0, p)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def needs_exact_test(control: tuple[int, int], variant: tuple[int, int]) -> bool:
    """Whether some expected count of the 2×2 table is below MIN_EXPECTED."""
    (x1, n1), (x2, n2) = control, variant
    total, successes = n1 + n2, x1 + x2
    failures = total - successes
    return any(
        n * share / total < MIN_EXPECTED for n in (n1, n2) for share in (successes, failures)
    )


def can_be_significant(control: tuple[int, int], variant: tuple[int, int], alpha: float) -> bool:
    """Whether some table with these group sizes and this total of conversions would be
    significant: the two most lopsided ones (as many conversions as possible in one group,
    the rest in the other) tested with Fisher's exact test."""
    (x1, n1), (x2, n2) = control, variant
    total = x1 + x2
    if total == 0 or total == n1 + n2:
        return False
    lopsided = [
        ((min(total, n1), n1), (total - min(total, n1), n2)),
        ((total - min(total, n2), n1), (min(total, n2), n2)),
    ]
    return min(fisher_exact(a, b) for a, b in lopsided) < alpha


def compare(control: tuple[int, int], variant: tuple[int, int], comparisons: int = 1) -> Comparison:
    """Test variant (conversions, participants) against control at the shared 5 % level."""
    alpha = ALPHA / max(1, comparisons)
    n1, n2 = control[1], variant[1]
    test = FISHER if n1 and n2 and needs_exact_test(control, variant) else Z_TEST
    if min(n1, n2) < MIN_PARTICIPANTS or not can_be_significant(control, variant, alpha):
        diff = difference(control, variant) if n1 and n2 else (None, None)
        return Comparison(diff[0], diff[1], test, None, alpha, NOT_ENOUGH)
    d, interval = difference(control, variant)
    p_value = fisher_exact(control, variant) if test == FISHER else z_test(control, variant)[1]
    verdict = NO_DIFFERENCE
    if p_value < alpha:
        verdict = BETTER if d > 0 else WORSE
    return Comparison(d, interval, test, p_value, alpha, verdict)
