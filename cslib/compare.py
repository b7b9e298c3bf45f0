"""Comparisons the course's experiments print: over seeds, paired, with the verdict decided by code.

Every "A beats B" in a lecture or a lab solution comes from :func:`paired`: both are trained with the
same seeds (the same data draw and starting weights for A and B in each seed), and the verdict is
read off the paired differences, with a 95 % confidence interval for their mean (Student's t)::

    print(cslib.compare.paired(test_acc["dropout"], test_acc["early stopping"], "dropout", "early stopping"))
    # dropout vs early stopping: dropout ahead in 5 of 5 seeds, mean +2.1 points (95 % interval +1.6 to +2.6)
    # dropout vs early stopping: no measurable difference (mean +0.3 points, 95 % interval -0.5 to +1.1; dropout ahead in 3 of 5 seeds)

A verdict is given only when the interval leaves out zero. Where several comparisons are printed together
(``comparisons=k``), each interval is widened to 100 - 5/k % (Bonferroni), so that all k of them hold together
with at least 95 %: among four comparisons of networks that do not differ, one would otherwise come out
"ahead" about one time in five by chance.

The differences over seeds say how much training varies; they do not say how much the test set itself varies:
another test set from the same source would give other accuracies. Where the differences are a few dozen test
images, that noise matters too: :func:`paired_by_example` takes what each network got right, image by image, and
adds it to the interval. In fast mode (``CSLIB_FAST=1``), where
nothing trains long enough, the line says so instead, and with fewer than 3 seeds it says there are too
few. The standard every comparison follows is written down once, in docs/contributing.md ("Experiments").
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

from cslib.runtime import fast_mode

MIN_SEEDS = 3
FAST_VERDICT = "fast mode: too little training to conclude"

def _inside(t: float, df: int) -> float:
    """P(-t <= T <= t) for Student's t with ``df`` degrees of freedom, exactly: the finite sums for whole degrees of
    freedom (Abramowitz and Stegun, 26.7.3 and 26.7.4), with theta = atan(t / sqrt(df))."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:  # sin(theta) (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...), df/2 terms
        term = total = 1.0
        for k in range(1, df // 2):
            term *= (2 * k - 1) / (2 * k) * c2
            total += term
        return s * total
    term = total = 1.0  # 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...)), (df - 1)/2 terms
    for k in range(1, (df - 1) // 2):
        term *= 2 * k / (2 * k + 1) * c2
        total += term
    return 2 / math.pi * (theta + (s * math.cos(theta) * total if df > 1 else 0.0))


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided quantile of Student's t: the t with P(-t <= T <= t) = ``level``, for ``df`` degrees of freedom
    (4.303 for df = 2 at 95 %), found by halving an interval."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be a whole number of at least 1, got {df!r}")
    if not 0 < level < 1:
        raise ValueError(f"level is a probability between 0 and 1, got {level!r}")
    low, high = 0.0, 1.0
    while _inside(high, df) < level:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if _inside(middle, df) < level else (low, middle)
    return (low + high) / 2


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of A and B over seeds; ``str()`` is its verdict line."""

    name_a: str
    name_b: str
    differences: tuple[float, ...]  # A minus B, per seed, in ``unit`` (points: accuracy x 100)
    unit: str
    higher_is_better: bool
    digits: int = 1  # decimals shown for the differences
    over: str = "seeds"  # what the pairs are: "seeds", "draws", "repeats"
    comparisons: int = 1  # how many comparisons are printed together (Bonferroni: each at 100 - 5/k %)
    test_examples: int = 0  # with paired_by_example: the test examples whose own noise the interval counts
    example_variance: float = 0.0  # their share of the variance of the mean difference, in unit squared
    df: int | None = None  # the interval's degrees of freedom: n - 1 unless paired_by_example says otherwise

    def __post_init__(self):
        if isinstance(self.comparisons, bool) or not isinstance(self.comparisons, int) or self.comparisons < 1:
            raise ValueError(f"comparisons is how many comparisons are printed together (1 or more), got {self.comparisons!r}")

    @property
    def level(self) -> float:
        """The interval's confidence: 0.95, or 1 - 0.05/k for one of k comparisons printed together."""
        return 1 - 0.05 / self.comparisons

    def _interval_text(self) -> str:
        """ "95 % interval -0.5 to +1.1", or "98.75 % interval -0.9 to +1.5, one of 4 comparisons"."""
        low, high = (f"{v:+.{self.digits}f}" for v in self.interval)
        family = f", one of {self.comparisons} comparisons" if self.comparisons > 1 else ""
        examples = f" over {self.over} and {self.test_examples:,} test examples" if self.test_examples else ""
        digits = 4 + max(0, len(str(self.comparisons)) - 2)  # 98.75, 99.95, 99.995: never a rounded-up 100
        return f"{100 * self.level:.{digits}g} % interval {low} to {high}{examples}{family}"

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def mean(self) -> float:
        return sum(self.differences) / self.n

    @property
    def half_width(self) -> float:
        """Half the width of the interval of the mean difference at ``level`` (nan with one seed): Student's t with
        n - 1 degrees of freedom (or ``df``), times the standard error over seeds and, where known, the test set's."""
        if self.n < 2:
            return math.nan
        variance = sum((d - self.mean) ** 2 for d in self.differences) / (self.n - 1)
        return t_quantile(self.df or self.n - 1, self.level) * math.sqrt(variance / self.n + self.example_variance)

    @property
    def interval(self) -> tuple[float, float]:
        return self.mean - self.half_width, self.mean + self.half_width

    @property
    def a_ahead(self) -> int:
        """In how many seeds A did better than B."""
        return sum((d > 0) if self.higher_is_better else (d < 0) for d in self.differences)

    @property
    def b_ahead(self) -> int:
        return sum((d < 0) if self.higher_is_better else (d > 0) for d in self.differences)

    @property
    def winner(self) -> str | None:
        """The name of the better one when the interval leaves out zero (and the run may conclude), else None."""
        if not self.conclusive:
            return None
        low, high = self.interval
        if low > 0 or high < 0:
            a_better = (low > 0) == self.higher_is_better
            return self.name_a if a_better else self.name_b
        return None

    @property
    def conclusive(self) -> bool:
        """Whether this run may state a verdict at all: full mode and at least MIN_SEEDS seeds."""
        return not fast_mode() and self.n >= MIN_SEEDS

    def verdict(self) -> str:
        """One short phrase: who is ahead, "no measurable difference", or why nothing can be concluded."""
        if fast_mode():
            return FAST_VERDICT
        if self.n < MIN_SEEDS:
            return f"too few {self.over} to conclude ({self.n}; at least {MIN_SEEDS} needed)"
        mean = f"mean {self.mean:+.{self.digits}f}" + (f" {self.unit}" if self.unit else "")
        if self.winner is None:
            return (f"no measurable difference ({mean}, {self._interval_text()}; "
                    f"{self.name_a} ahead in {self.a_ahead} of {self.n} {self.over})")
        ahead = self.a_ahead if self.winner == self.name_a else self.b_ahead
        return f"{self.winner} ahead in {ahead} of {self.n} {self.over}, {mean} ({self._interval_text()})"

    def __str__(self) -> str:
        return f"{self.name_a} vs {self.name_b}: {self.verdict()}"


def paired(a: Sequence[float], b: Sequence[float], name_a: str = "A", name_b: str = "B", *,
           scale: float = 100, unit: str = "points", higher_is_better: bool = True, digits: int = 1,
           over: str = "seeds", comparisons: int = 1) -> Comparison:
    """Compare A and B measured with the same seeds: ``a[i]`` and ``b[i]`` share seed ``i``.

    Values are accuracies by default, shown in points (``scale=100``) with ``digits`` decimals; for times
    use ``scale=1, unit="s", higher_is_better=False, digits=2``. ``over`` names what the pairs are ("draws",
    "repeats"); the default is "seeds". ``comparisons``: how many comparisons are printed together, this one
    included (each interval then at 100 - 5/k %, so that together they hold with 95 %). ``print()`` the result for
    its verdict line.
    """
    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) != len(b):
        raise ValueError(f"paired needs one value of each per seed: got {len(a)} for {name_a} and {len(b)} for {name_b}")
    if not a:
        raise ValueError("paired needs at least one seed's values")
    if not all(math.isfinite(v) for v in a + b):
        raise ValueError(f"paired got a value that is not a finite number: {a} / {b}")
    return Comparison(name_a, name_b, tuple(scale * (x - y) for x, y in zip(a, b)), unit, higher_is_better, digits, over,
                      comparisons)


def paired_by_example(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], name_a: str = "A", name_b: str = "B",
                      **options) -> Comparison:
    """:func:`paired` from what A and B got right on the same test examples: ``a[i][j]`` is 1 (or True) where A, trained
    with seed ``i``, classified test example ``j`` correctly, else 0; the accuracies are the means of the rows.

    The interval then also counts the test set's own sampling noise. In the table of differences c[i][j] (seed i,
    example j; n seeds, m examples), the mean difference varies with the seeds, with the test examples drawn, and
    with how the two interact: var = s_a / n + s_b / m + s_e / (n m), the three parts of a two-way analysis of
    variance without replication. Its estimate is (MS_seeds + MS_examples - MS_residual) / (n m): the variance over
    seeds alone (MS_seeds / (n m)) plus the test set's share, (MS_examples - MS_residual) / (n m), never taken below
    zero. The degrees of freedom are Welch and Satterthwaite's for that sum (rounded down, never fewer than
    n - 1). ``options`` are :func:`paired`'s.
    """
    rows_a, rows_b = ([[float(v) for v in (row.tolist() if hasattr(row, "tolist") else row)] for row in rows]
                      for rows in (a, b))
    if len(rows_a) != len(rows_b) or not rows_a:
        raise ValueError(f"paired_by_example needs one row of each per seed: got {len(rows_a)} for {name_a} and "
                         f"{len(rows_b)} for {name_b}")
    size = len(rows_a[0])
    if size < 2 or any(len(row) != size for row in rows_a + rows_b):
        raise ValueError(f"paired_by_example needs rows of the same length (the test examples), at least 2: got lengths "
                         f"{sorted({len(row) for row in rows_a + rows_b})}")
    if any(v not in (0.0, 1.0) for row in rows_a + rows_b for v in row):
        raise ValueError("paired_by_example takes 1 (right) or 0 (wrong) per test example, not accuracies: for those, "
                         "use paired")
    result = paired([sum(row) / size for row in rows_a], [sum(row) / size for row in rows_b], name_a, name_b, **options)
    n, m, scale = len(rows_a), size, options.get("scale", 100)
    table = [[scale * (x - y) for x, y in zip(ra, rb)] for ra, rb in zip(rows_a, rows_b)]
    seed_means = list(result.differences)  # each seed's mean of its row of the table
    example_means = [sum(row[j] for row in table) / n for j in range(m)]
    grand = sum(seed_means) / n
    ss_seeds = m * sum((v - grand) ** 2 for v in seed_means)
    ss_examples = n * sum((v - grand) ** 2 for v in example_means)
    ss_residual = max(0.0, sum(v * v for row in table for v in row) - n * m * grand ** 2 - ss_seeds - ss_examples)
    if n < 2:  # no interval at all (paired says so): the test set's share alone
        return dataclasses.replace(result, test_examples=m, example_variance=ss_examples / (m - 1) / (n * m))
    parts = [(ss_seeds / (n - 1) / (n * m), n - 1), (ss_examples / (m - 1) / (n * m), m - 1),
             (ss_residual / ((n - 1) * (m - 1)) / (n * m), (n - 1) * (m - 1))]  # variance, degrees of freedom
    (v_seeds, _), (v_examples, _), (v_residual, _) = parts
    example_variance = max(0.0, v_examples - v_residual)
    total = v_seeds + example_variance
    spread = sum(v * v / df for v, df in parts)
    df = max(n - 1, math.floor(total * total / spread)) if total > 0 and spread > 0 else n - 1
    return dataclasses.replace(result, test_examples=m, example_variance=example_variance, df=df)


def mean_sd(values: Sequence[float], digits: int = 3) -> str:
    """ "0.923 ± 0.004": the mean and the standard deviation over seeds (n - 1 in the denominator)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_sd needs at least one value")
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
