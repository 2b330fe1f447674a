"""What an interval supports, and how many comparisons it was read among (numpy and scipy; no torch).

Each comparison (first minus second, points) has an interval (report/twoway.py: delta, se, df) and a margin
delta_m (points: the ablation rows' `margin`, DEFAULT_MARGIN where the column is absent). Three claims are
tested, each by the p-value that is below ALPHA exactly when the 95% interval says so (one comparison alone):

- difference, H0: Delta = 0, p = 2 P(T > |delta| / se): "<first> better" / "<second> better";
- equivalence (two one-sided tests, Schuirmann 1987, at 2.5% each), H0: |Delta| >= delta_m,
  p = 2 max(P(T > (delta_m - delta) / se), P(T > (delta + delta_m) / se)): the interval inside +-delta_m;
- non-inferiority, H0: Delta <= -delta_m, p = 2 P(T > (delta + delta_m) / se): the lower bound above -delta_m.

T is Student's t with the interval's degrees of freedom. Comparisons form families (the primary one: the
mIoU comparisons of the main protocol; exploratory ones: object sizes, classes, the scale sweep; each other
protocol's); within a family each claim's p-values are adjusted by Holm's step-down method (Holm 1979,
"A simple sequentially rejective multiple test procedure"), which holds the chance of any false claim of
that kind in the family at ALPHA. Reading the three claims off one comparison's interval needs no further
adjustment (CPMP, "Points to consider on switching between superiority and non-inferiority", 2000).
A verdict is the strongest claim whose adjusted p is below ALPHA: better, else equivalent, else not worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from ksac_cli.report.twoway import TwoWay

ALPHA = 0.05
DEFAULT_MARGIN = 1.0  # points, for ablation rows written before the `margin` column existed
PRIMARY = "primary"


@dataclass
class Line:
    """One comparison of the verdict table; p-values and the verdict are filled by `judge`."""

    family: str  # PRIMARY, "exploratory: object size", ...
    comparison: str  # "mobilenetv2 OS16 rates 6,12,18: KSAC (concat) vs ASPP"
    metric: str
    first: str  # "KSAC", "with rate 24": differences are first minus second
    second: str
    interval: TwoWay | None  # in points; None: no seeds paired with a value
    margin: float  # points
    p: dict = field(default_factory=dict)  # claim -> (p, Holm-adjusted p)
    family_size: int = 0
    verdict: str = "no verdict"


def _sf(x: float, df: float) -> float:
    """P(T > x), T Student's t with df degrees of freedom (normal for df inf); x may be +-inf or nan (1)."""
    if np.isnan(x):
        return 1.0
    return float(scipy_stats.norm.sf(x) if not np.isfinite(df) else scipy_stats.t.sf(x, df))


def p_values(delta: float, se: float, df: float, margin: float) -> dict[str, float]:
    """{"difference", "equivalence", "not_worse"}: the module docstring's p-values (se 0: 0 or 1)."""
    def z(x: float) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.divide(x, se)) if se > 0 else (np.inf if x > 0 else -np.inf if x < 0 else np.nan)

    above_minus = _sf(z(delta + margin), df)  # H0 Delta <= -margin, one-sided
    below_plus = _sf(z(margin - delta), df)  # H0 Delta >= margin
    return {"difference": min(1.0, 2 * _sf(abs(z(delta)), df)),
            "equivalence": min(1.0, 2 * max(above_minus, below_plus)),
            "not_worse": min(1.0, 2 * above_minus)}


def holm(p: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given: the k-th smallest becomes
    max over j <= k of min(1, (m - j + 1) p_(j))."""
    order = np.argsort(p, kind="stable")
    adjusted, running = np.empty(len(p)), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def judge(lines: list[Line]) -> list[Line]:
    """Fill each line's p-values (raw and Holm-adjusted within its family) and verdict; returns `lines`."""
    families: dict[str, list[Line]] = {}
    for line in lines:
        if line.interval is not None and line.interval.se is not None:
            families.setdefault(line.family, []).append(line)
        else:
            line.verdict = "no verdict (no interval)"
    for members in families.values():
        raw = [p_values(m.interval.delta, m.interval.se, m.interval.df, m.margin) for m in members]
        for claim in ("difference", "equivalence", "not_worse"):
            for m, r, adj in zip(members, raw, holm([r[claim] for r in raw])):
                m.p[claim] = (r[claim], adj)
        for m in members:
            m.family_size = len(members)
            m.verdict = decide(m)
    return lines


def decide(line: Line) -> str:
    """The strongest claim whose Holm-adjusted p is below ALPHA; when the interval alone would have made
    one that Holm does not, it is named in brackets."""
    def claim(which: int) -> str | None:  # 1: Holm-adjusted, 0: raw
        if line.p["difference"][which] < ALPHA:
            return f"{line.first if line.interval.delta > 0 else line.second} better"
        if line.p["equivalence"][which] < ALPHA:
            return f"equivalent within ±{line.margin:.2f} points"
        if line.p["not_worse"][which] < ALPHA:
            return f"{line.first} not worse by more than {line.margin:.2f} points"
        return None

    said, alone = claim(1), claim(0)
    return (said or "no difference detectable") + (f" ({alone} before Holm's correction)" if alone != said else "")
