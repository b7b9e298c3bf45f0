"""Comparisons the course's experiments print: over seeds, paired, with the verdict decided by code.

Every "A beats B" in a lecture or a lab solution comes from :func:`paired`: both are trained with the
same seeds (the same data draw and starting weights for A and B in each seed), and the verdict is
read off the paired differences, with a 95 % confidence interval for their mean (Student's t)::

    print(cslib.compare.paired(test_acc["dropout"], test_acc["early stopping"], "dropout", "early stopping"))
    # dropout vs early stopping: dropout ahead in 5 of 5 seeds, mean +2.1 points (95 % interval +1.6 to +2.6)
    # dropout vs early stopping: no measurable difference (mean +0.3 points, 95 % interval -0.5 to +1.1; dropout ahead in 3 of 5 seeds)

A verdict is given only when the interval leaves out zero. In fast mode (``CSLIB_FAST=1``), where
nothing trains long enough, the line says so instead, and with fewer than 3 seeds it says there are too
few. The standard every comparison follows is written down once, in docs/contributing.md ("Experiments").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from cslib.runtime import fast_mode

MIN_SEEDS = 3
FAST_VERDICT = "fast mode: too little training to conclude"

# Two-sided 95 % quantiles of Student's t distribution, by degrees of freedom (1 to 30); above 30, 1.96.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t95(df: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``df`` degrees of freedom (1.96 above 30)."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"degrees of freedom must be a whole number of at least 1, got {df!r}")
    return _T95[df - 1] if df <= len(_T95) else 1.96


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

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def mean(self) -> float:
        return sum(self.differences) / self.n

    @property
    def half_width(self) -> float:
        """Half the width of the 95 % interval of the mean difference (nan with one seed)."""
        if self.n < 2:
            return math.nan
        sd = math.sqrt(sum((d - self.mean) ** 2 for d in self.differences) / (self.n - 1))
        return t95(self.n - 1) * sd / math.sqrt(self.n)

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
        low, high = (f"{v:+.{self.digits}f}" for v in self.interval)
        mean = f"mean {self.mean:+.{self.digits}f}" + (f" {self.unit}" if self.unit else "")
        if self.winner is None:
            return (f"no measurable difference ({mean}, 95 % interval {low} to {high}; "
                    f"{self.name_a} ahead in {self.a_ahead} of {self.n} {self.over})")
        ahead = self.a_ahead if self.winner == self.name_a else self.b_ahead
        return f"{self.winner} ahead in {ahead} of {self.n} {self.over}, {mean} (95 % interval {low} to {high})"

    def __str__(self) -> str:
        return f"{self.name_a} vs {self.name_b}: {self.verdict()}"


def paired(a: Sequence[float], b: Sequence[float], name_a: str = "A", name_b: str = "B", *,
           scale: float = 100, unit: str = "points", higher_is_better: bool = True, digits: int = 1,
           over: str = "seeds") -> Comparison:
    """Compare A and B measured with the same seeds: ``a[i]`` and ``b[i]`` share seed ``i``.

    Values are accuracies by default, shown in points (``scale=100``) with ``digits`` decimals; for times
    use ``scale=1, unit="s", higher_is_better=False, digits=2``. ``over`` names what the pairs are ("draws",
    "repeats"); the default is "seeds". ``print()`` the result for its verdict line.
    """
    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) != len(b):
        raise ValueError(f"paired needs one value of each per seed: got {len(a)} for {name_a} and {len(b)} for {name_b}")
    if not a:
        raise ValueError("paired needs at least one seed's values")
    if not all(math.isfinite(v) for v in a + b):
        raise ValueError(f"paired got a value that is not a finite number: {a} / {b}")
    return Comparison(name_a, name_b, tuple(scale * (x - y) for x, y in zip(a, b)), unit, higher_is_better, digits, over)


def mean_sd(values: Sequence[float], digits: int = 3) -> str:
    """ "0.923 ± 0.004": the mean and the standard deviation over seeds (n - 1 in the denominator)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_sd needs at least one value")
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
