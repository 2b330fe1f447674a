"""What an interval supports, and how many comparisons it was read among (numpy and scipy; no torch): the
one verdict rule, each verdict a `Verdict` value.

Each claim (difference, equivalence, non-inferiority) has a p-value below ALPHA exactly when the 95% interval
says so; each kind's p-values are Holm-adjusted within a family (Holm 1979), and a verdict is the strongest
claim left (docs/results.md, "Claims and families": the tests and sources)."""

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


@dataclass(frozen=True)
class Verdict:
    """What one comparison's interval supports after Holm's correction (made by `judge`, the one rule): a value,
    put into words only where it is shown (report/verdicts.py `text`)."""

    kind: str | None  # the claim made (one of CLAIMS), None: none
    first: str  # the two sides: differences are first minus second
    second: str
    estimate: float  # Δ, points
    margin: float  # δ, points
    claim: str  # the claim `p` belongs to: `kind`, else "difference"
    p: float  # that claim's Holm-adjusted p within the family
    family_size: int
    before_holm: str | None = None  # a claim the interval alone made and Holm did not (one of CLAIMS)

    @property
    def better(self) -> str | None:
        """The side a difference favours; None unless the verdict is a difference."""
        return None if self.kind != "difference" else self.first if self.estimate > 0 else self.second


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
    verdict: Verdict | None = None  # None: not judged, or no interval to judge
    one_seed_out: list = field(default_factory=list)  # [(seed, Verdict without it)] where that verdict differs
    group: str = ""  # the title of the row group (another run or protocol) it compares; "": the main rows

    @property
    def label(self) -> str:
        """The family as the tables show it: 'group / family' for another row group's lines."""
        return f"{self.group} / {self.family}" if self.group else self.family

    @property
    def kind(self) -> str | None:
        """The claim made after Holm (one of CLAIMS), None for none."""
        return None if self.verdict is None else self.verdict.kind

    @property
    def claim_stance(self) -> str | None:
        """Where the paper's claim stands against the 95% interval (docs/results.md); None without a claim."""
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


def p_values(interval: TwoWay, margin: float) -> dict[str, float]:
    """{"difference", "equivalence", "not_worse"}: the p-values of the interval's delta, se and df as
    docs/results.md states them (se 0: 0 or 1)."""
    delta, se, df = interval.delta, interval.se, interval.df

    def z(x: float) -> float:
        return float(x / se) if se > 0 else (np.inf if x > 0 else -np.inf if x < 0 else np.nan)

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
    """Fill each line's p-values (raw and Holm-adjusted within its family) and verdict, and the verdicts
    with one seed left out; returns `lines`. A line without an interval keeps no verdict (None)."""
    families: dict[tuple[str, str], list[Line]] = {}  # a family per row group
    for line in lines:
        if line.interval is not None and line.interval.se is not None:
            families.setdefault((line.group, line.family), []).append(line)
    for members in families.values():
        raw = [p_values(m.interval, m.margin) for m in members]
        for i, (m, adjusted) in enumerate(zip(members, _holm_each(raw))):
            m.p = {claim: (raw[i][claim], adjusted[claim]) for claim in CLAIMS}
            m.verdict = _verdict(m, m.interval, adjusted, len(members), _strongest(raw[i]))
            m.one_seed_out = _one_seed_out(m, i, raw)
    return lines


def _holm_each(raw: list[dict[str, float]]) -> list[dict[str, float]]:
    """Each member's {claim: Holm-adjusted p} from the family's raw p-values, each claim adjusted on its own."""
    adjusted = {claim: holm([r[claim] for r in raw]) for claim in CLAIMS}
    return [{claim: adjusted[claim][i] for claim in CLAIMS} for i in range(len(raw))]


def _strongest(p: dict[str, float]) -> str | None:
    """The first of CLAIMS whose p is below ALPHA."""
    return next((c for c in CLAIMS if p[c] < ALPHA), None)


def _verdict(line: Line, interval: TwoWay, adjusted: dict[str, float], family_size: int,
             alone: str | None = None) -> Verdict:
    """THE verdict rule: the strongest claim whose Holm-adjusted p is below ALPHA; `alone`, the claim the
    interval alone makes, is kept where Holm did not make it."""
    kind = _strongest(adjusted)
    claim = kind or "difference"
    return Verdict(kind, line.first, line.second, interval.delta, line.margin, claim, adjusted[claim], family_size,
                   alone if alone != kind else None)


def _one_seed_out(line: Line, index: int, raw: list[dict]) -> list[tuple]:
    """[(seed, Verdict without it)] for each seed whose removal changes the verdict (its claim, or the
    side a difference favours), the family's other lines as they are."""
    out = []
    for seed, without in zip(line.seed_ids, line.interval.dropped):
        if without.se is None:
            continue
        adjusted = _holm_each([p_values(without, line.margin) if j == index else r for j, r in enumerate(raw)])
        verdict = _verdict(line, without, adjusted[index], len(raw))
        if (verdict.kind, verdict.better) != (line.verdict.kind, line.verdict.better):
            out.append((seed, verdict))
    return out
