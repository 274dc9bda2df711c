"""Timing and statistics for comparisons: auto-ranged blocks of calls, medians with their
interquartile range, and a rank test that says whether two sets of times differ.

A *block* is ``number`` back-to-back calls timed together; a sample is a block's time divided
by ``number``.  ``autorange`` picks ``number`` so a block lasts at least ``min_block`` seconds
(as ``torch.utils.benchmark.Timer.blocked_autorange`` does), which keeps the clock's resolution
and the loop's own cost out of the numbers.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Summary", "autorange", "time_blocks", "summarize", "rank_test", "NOISY",
           "EXACT_MAX"]

#: an IQR above this fraction of the median flags a measurement as noisy
NOISY = 0.10


def time_blocks(fn: Callable[[], Any], number: int, blocks: int) -> list[float]:
    """``blocks`` samples of ``fn``: each the mean seconds per call over ``number`` calls."""
    out = []
    clock = time.perf_counter
    for _ in range(blocks):
        t0 = clock()
        for _ in range(number):
            fn()
        out.append((clock() - t0) / number)
    return out


def autorange(fn: Callable[[], Any], min_block: float = 0.01, max_number: int = 1 << 20
              ) -> int:
    """The number of calls per block: the smallest of 1, 2, 5, 10, 20, 50... whose block of
    calls lasts at least ``min_block`` seconds.

    >>> from graphexec.bench.stats import autorange
    >>> autorange(lambda: None, min_block=1e-4) >= 10
    True
    """
    number = 1
    while number < max_number:
        for step in (1, 2, 5):
            n = number * step
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - t0 >= min_block:
                return n
        number *= 10
    return max_number


@dataclass(frozen=True)
class Summary:
    """Samples (seconds per call) and their median, quartiles and spread."""

    samples: tuple[float, ...]
    number: int  # calls per sample

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def q1(self) -> float:
        return _quantile(self.samples, 0.25)

    @property
    def q3(self) -> float:
        return _quantile(self.samples, 0.75)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def noisy(self) -> bool:
        """Whether the IQR is more than ``NOISY`` (10%) of the median."""
        return self.iqr > NOISY * self.median

    def to_dict(self) -> dict[str, Any]:
        return {"median_s": self.median, "iqr_s": self.iqr, "q1_s": self.q1, "q3_s": self.q3,
                "noisy": self.noisy, "number": self.number, "samples_s": list(self.samples)}


def summarize(samples: Sequence[float], number: int = 1) -> Summary:
    """A ``Summary`` of ``samples``.

    >>> from graphexec.bench.stats import summarize
    >>> s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    >>> s.median, s.iqr, s.noisy
    (3.0, 2.0, True)
    """
    return Summary(tuple(float(s) for s in samples), number)


def _quantile(xs: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default method)."""
    s = sorted(xs)
    if not s:
        return math.nan
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


#: the most pairs (len(a) * len(b)) the rank test counts exactly
EXACT_MAX = 625


def _exact_p(u: int, n1: int, n2: int) -> float:
    """The exact two-sided p-value of U = ``u``: the share of the C(n1 + n2, n1) orderings of
    the pooled samples whose U is at least as far from its mean."""
    # NOTE: counts[j][k]: orderings of i samples of a and j of b with U = k, grown one sample
    # of a at a time (a new largest a-sample is above all j b-samples... or some of them)
    counts = [[1] + [0] * (n1 * n2) for _ in range(n2 + 1)]  # i = 0: U = 0 only
    for _ in range(n1):
        new = [[0] * (n1 * n2 + 1) for _ in range(n2 + 1)]
        for j in range(n2 + 1):
            for k in range(n1 * n2 + 1):
                # the largest pooled sample is from a (above all j of b: adds j) or from b
                total = counts[j][k - j] if k >= j else 0
                if j:
                    total += new[j - 1][k]
                new[j][k] = total
        counts = new
    dist = counts[n2]
    total = sum(dist)
    low = sum(dist[:u + 1]) / total
    high = sum(dist[u:]) / total
    return min(1.0, 2 * min(low, high))


def rank_test(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sided p-value of the Mann–Whitney U test that ``a`` and ``b`` come from the same
    distribution: exact for small samples without ties (up to ``EXACT_MAX`` pairs), else the
    normal approximation with a tie correction and a continuity correction (as
    ``scipy.stats.mannwhitneyu`` computes them).  Small p: the two really differ.

    >>> from graphexec.bench.stats import rank_test
    >>> rank_test([1.0, 1.1, 1.2, 1.05, 1.15, 1.12, 1.08, 1.11],
    ...           [2.0, 2.1, 2.2, 2.05, 2.15, 2.12, 2.08, 2.11]) < 0.001
    True
    >>> rank_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return math.nan
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled, strict=True) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    if ties == 0 and n1 * n2 <= EXACT_MAX:
        return _exact_p(round(u), n1, n2)
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        return 1.0
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)  # continuity correction
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))
