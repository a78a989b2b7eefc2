"""The significance test behind repeated comparisons: one-sided Mann-Whitney U.

Why Mann-Whitney rather than Welch's t: measured energy has outliers (a noisy
neighbour, a frequency ramp) and few repeats, so we want a test that assumes no
normal distribution. Pure Python, no scipy: the samples are small.

- No ties and small samples: the exact distribution of U (counted by recursion).
- Otherwise: the normal approximation with tie and continuity corrections.
Both agree with `scipy.stats.mannwhitneyu` (method "exact" / "asymptotic");
tests/judge/test_stats.py checks that when scipy is installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

ALPHA = 0.05
_EXACT_MAX_PAIRS = 400  # m * n up to which the exact distribution is counted


@dataclass(frozen=True)
class TestResult:
    """Outcome of testing "head is greater than base"."""

    __test__ = False  # not a pytest test class, despite the name

    p_value: float
    u: float  # U statistic of the head sample
    n_base: int
    n_head: int
    method: str  # "exact" or "normal approximation"

    @property
    def significant(self) -> bool:
        return self.p_value <= ALPHA

    def describe(self) -> str:
        return f"Mann-Whitney U one-sided p={self.p_value:.3g} ({self.n_base} vs {self.n_head} repeats)"


def smallest_p(n_base: int, n_head: int) -> float:
    """The smallest p-value any data can give (complete separation, no ties).

    With 2 repeats a side it is 1/6: such a test can never be significant, so
    measured quantities with so few repeats are not gated.
    """
    if n_base < 1 or n_head < 1:
        return 1.0
    return 1.0 / math.comb(n_base + n_head, n_base)


# z(0.95) + z(0.80): a one-sided test at ALPHA with 80 % power.
_Z_ALPHA_PLUS_POWER = 1.6449 + 0.8416


def smallest_detectable_change(base: list[float], head: list[float]) -> float | None:
    """The relative change these repeats would detect with 80 % power at ALPHA, from
    their spread (normal approximation: (z_a + z_b) * standard error / base mean).

    An approximation for the reader ("changes below this are invisible here"); the
    decision itself is the Mann-Whitney test. None with fewer than 2 repeats a side.
    """
    if len(base) < 2 or len(head) < 2:
        return None
    mean = sum(base) / len(base)
    if mean <= 0:
        return None
    se = math.sqrt(_variance(base) / len(base) + _variance(head) / len(head))
    return _Z_ALPHA_PLUS_POWER * se / mean


def _variance(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def can_reach_significance(n_base: int, n_head: int) -> bool:
    return smallest_p(n_base, n_head) <= ALPHA


def mann_whitney_greater(base: list[float], head: list[float]) -> TestResult:
    """P(U >= observed) under "both samples come from one distribution"."""
    m, n = len(base), len(head)
    if m == 0 or n == 0:
        raise ValueError("Mann-Whitney U needs at least one sample on each side")
    # U of head = pairs where head beats base, ties counting one half.
    u = sum(1.0 if h > b else 0.5 if h == b else 0.0 for h in head for b in base)
    ties = len(set(base + head)) < m + n
    if not ties and m * n <= _EXACT_MAX_PAIRS:
        p = _exact_upper_tail(m, n, u)
        method = "exact"
    else:
        p = _normal_upper_tail(base, head, u)
        method = "normal approximation"
    return TestResult(p_value=min(1.0, p), u=u, n_base=m, n_head=n, method=method)


def _exact_upper_tail(m: int, n: int, u: float) -> float:
    counts = _u_counts(m, n)
    k = math.ceil(u)
    return sum(counts[k:]) / math.comb(m + n, m)


@lru_cache(maxsize=64)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """Number of orderings of m base and n head values giving each U = 0..m*n.

    The largest value is either a head value (beats all m base values: U gains
    m) or a base value (adds nothing), which gives the recursion
    c(m, n, k) = c(m, n-1, k-m) + c(m-1, n, k).
    """
    if m == 0 or n == 0:
        return (1,)
    with_head_top = _u_counts(m, n - 1)
    with_base_top = _u_counts(m - 1, n)
    out = [0] * (m * n + 1)
    for k, c in enumerate(with_head_top):
        out[k + m] += c
    for k, c in enumerate(with_base_top):
        out[k] += c
    return tuple(out)


def _normal_upper_tail(base: list[float], head: list[float], u: float) -> float:
    m, n = len(base), len(head)
    total = m + n
    tie_sizes: dict[float, int] = {}
    for v in base + head:
        tie_sizes[v] = tie_sizes.get(v, 0) + 1
    tie_term = sum(t**3 - t for t in tie_sizes.values())
    variance = m * n / 12.0 * ((total + 1) - tie_term / (total * (total - 1)))
    if variance <= 0:  # every value identical: no evidence either way
        return 1.0
    z = (u - m * n / 2.0 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def expected_lowest(samples: list[float], n: int) -> float:
    """The expected lowest of n repeats drawn without replacement from `samples`.

    The lowest of more repeats is lower by chance alone, so two sides are compared at
    the same count: with N sorted samples x_1 <= ... <= x_N, x_i is the lowest of a
    random n-subset with probability C(N - i, n - 1) / C(N, n). n = N gives min(samples).
    """
    ordered = sorted(samples)
    count = len(ordered)
    if not 1 <= n <= count:
        raise ValueError(f"n must be between 1 and {count}, got {n}")
    subsets = math.comb(count, n)
    return sum(x * math.comb(count - i, n - 1) for i, x in enumerate(ordered, start=1)) / subsets
