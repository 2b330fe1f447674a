"""What an interval supports, and how many comparisons it was read among (numpy and scipy; no torch).

Each comparison (first minus second, points) has an interval (report/twoway.py: delta, se, df) and a margin
delta_m (points: report/compare.py `reading_of`, never larger than the paper's claim). Three claims are
tested, each by the p-value that is below ALPHA exactly when the 95% interval says so (one comparison alone):

- difference, H0: Delta = 0, p = 2 P(T > |delta| / se): "<first> better" / "<second> better";
- equivalence (two one-sided tests, Schuirmann 1987, at 2.5% each), H0: |Delta| >= delta_m,
  p = 2 max(P(T > (delta_m - delta) / se), P(T > (delta + delta_m) / se)): the interval inside +-delta_m;
- non-inferiority, H0: Delta <= -delta_m, p = 2 P(T > (delta + delta_m) / se): the lower bound above -delta_m.

T is Student's t with the interval's degrees of freedom. Comparisons form families (the primary one: KSAC
minus ASPP on mIoU, the paper's claim; the second: adding rate 24; exploratory ones: object sizes, classes;
each other run's and protocol's apart); within a family each KIND of claim's p-values are adjusted by Holm's
step-down method (Holm 1979, "A simple sequentially rejective multiple test procedure"), which holds the chance
of any false claim of that kind in the family at ALPHA (per kind: across the three kinds together it can be
higher, about 7% in a mixed simulation). Reading the three claims off one comparison's interval needs no
further adjustment (CPMP, "Points to consider on switching between superiority and non-inferiority", 2000).
A verdict is the strongest claim whose adjusted p is below ALPHA: better, else equivalent, else not worse; its
p is that claim's adjusted p (the difference's when no claim is made).

Two readings sit beside a verdict. The paper's claim (a primary line's `claim`, points): inside the interval,
excluded by it, or not resolvable (the half-width is at least the claim, so the interval cannot tell the
claim from no effect) — read off the 95% interval, not a corrected test. One seed out: the verdict made again
with each seed left out (the interval's `dropped`, the other lines of the family as they are); a verdict that
changes names the seed it rests on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from ksac_cli.report.twoway import TwoWay

ALPHA = 0.05
PRIMARY = "primary"
CLAIMS = ("difference", "equivalence", "not_worse")  # the kinds of claim, strongest first
INSIDE, EXCLUDED, UNRESOLVABLE = "inside the interval", "excluded", "not resolvable"


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
    claim: float | None = None  # the paper's value of this difference (points); primary KSAC - ASPP lines only
    seed_ids: tuple = ()  # the seeds of the interval, in the order of its `dropped`
    p: dict = field(default_factory=dict)  # claim -> (p, Holm-adjusted p)
    family_size: int = 0
    kind: str | None = None  # the claim made after Holm (one of CLAIMS), None for none
    verdict: str = "no verdict"
    one_seed_out: list = field(default_factory=list)  # [(seed, verdict without it)] where that verdict differs

    @property
    def verdict_p(self) -> tuple[str, float] | None:
        """(the claim, its Holm-adjusted p) behind the verdict: the claim made, else the difference's."""
        if not self.p:
            return None
        claim = self.kind or "difference"
        return claim, self.p[claim][1]

    @property
    def claim_stance(self) -> str | None:
        """Where the paper's claim stands against the 95% interval (module docstring); None without a claim."""
        ci = self.interval
        if self.claim is None:
            return None
        if ci is None or ci.low is None or (ci.high - ci.low) / 2 >= abs(self.claim):
            return UNRESOLVABLE
        if ci.low <= self.claim <= ci.high:
            return INSIDE
        return f"{EXCLUDED} ({'above' if self.claim > ci.high else 'below'} the interval)"


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
    """Fill each line's p-values (raw and Holm-adjusted within its family), claim and verdict, and the
    verdicts with one seed left out; returns `lines`."""
    families: dict[str, list[Line]] = {}
    for line in lines:
        if line.interval is not None and line.interval.se is not None:
            families.setdefault(line.family, []).append(line)
        else:
            line.verdict = "no verdict (no interval)"
    for members in families.values():
        raw = [_p_of(m.interval, m.margin) for m in members]
        adjusted = {claim: holm([r[claim] for r in raw]) for claim in CLAIMS}
        for i, m in enumerate(members):
            m.p = {claim: (raw[i][claim], adjusted[claim][i]) for claim in CLAIMS}
            m.family_size = len(members)
            m.kind = _strongest({c: adjusted[c][i] for c in CLAIMS})
            m.verdict = _text(m, m.kind, m.interval.delta, _strongest(raw[i]))
        for i, m in enumerate(members):
            m.one_seed_out = _one_seed_out(m, i, raw)
    return lines


def _p_of(interval: TwoWay, margin: float) -> dict[str, float]:
    return p_values(interval.delta, interval.se, interval.df, margin)


def _strongest(p: dict[str, float]) -> str | None:
    """The first of CLAIMS whose p is below ALPHA."""
    return next((c for c in CLAIMS if p[c] < ALPHA), None)


def _text(line: Line, kind: str | None, delta: float, alone: str | None = None) -> str:
    """The verdict in words; a claim the interval alone would have made and Holm did not, in brackets."""
    def words(k: str | None) -> str:
        if k == "difference":
            return f"{line.first if delta > 0 else line.second} better"
        if k == "equivalence":
            return f"equivalent within ±{line.margin:.2f} points"
        if k == "not_worse":
            return f"{line.first} not worse by more than {line.margin:.2f} points"
        return "no difference detectable"

    said = words(kind)
    return said + (f" ({words(alone)} before Holm's correction)" if alone is not None and alone != kind else "")


def _one_seed_out(line: Line, index: int, raw: list[dict]) -> list[tuple]:
    """[(seed, verdict without it)] for each seed whose removal changes the verdict (its claim, or the
    direction of a difference), the family's other lines as they are."""
    out = []
    for seed, without in zip(line.seed_ids, line.interval.dropped):
        if without.se is None:
            continue
        p = _p_of(without, line.margin)
        adjusted = {c: holm([p[c] if j == index else r[c] for j, r in enumerate(raw)]) for c in CLAIMS}
        kind = _strongest({c: adjusted[c][index] for c in CLAIMS})
        flips = kind == "difference" and line.kind == "difference" and (without.delta > 0) != (line.interval.delta > 0)
        if kind != line.kind or flips:
            out.append((seed, _text(line, kind, without.delta)))
    return out
