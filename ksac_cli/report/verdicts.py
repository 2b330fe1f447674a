"""The verdict table: `report_verdicts.csv` (numbers in columns, documented in results/README.md) and its
compact Markdown/LaTeX form at the head of report.md, from the lines `claims.judge` decided; `text`, the one
place a verdict (claims.Verdict) is put into words."""

from __future__ import annotations

import pandas as pd

from ksac_cli.report.claims import CLAIMS, PRIMARY, Line, Verdict
from ksac_cli.report.stats import interval_text

RATE24 = "second: adding rate 24"  # its own family: in the primary one it would cut the power to see the claim
SIZE, CLASSES = "exploratory: object size", "exploratory: per class"
AA = "A/A check"  # one model against itself with other seed streams (ksac ablate --streams 2): its own family
ORDER = [PRIMARY, RATE24, AA, SIZE, CLASSES]  # the primary family first; within a family, the order made
P_COLUMNS = {"difference": "p", "equivalence": "p_equivalent", "not_worse": "p_not_worse"}

NOTE = ("Δ = first minus second in points, paired by seed (same backbone, output stride and rates; for rate 24 "
        "the same head). 95% CI: over seeds AND val images (t over the seeds' differences plus a bootstrap over "
        "the images, one resample shared by both models and every seed, Welch–Satterthwaite degrees of freedom "
        "bounded below by the seeds'; docs/results.md); 't over seeds only' where a run's per-image evidence is "
        "missing, which leaves the val set's sampling out. δ: the equivalence margin, at most the paper's claim "
        "(the rows' `margin`, half the claim where they recorded a wider one). Verdicts: 'better' when the "
        "difference excludes 0, 'equivalent within ±δ' when the interval lies inside ±δ, 'not worse by more than "
        "δ' when its lower bound is above −δ. Each KIND of claim (difference, equivalence, non-inferiority) is "
        "Holm-adjusted within its family on its own, so the chance of a false claim of one kind in a family is "
        "at most 5% (of any kind, somewhat more). p (Holm): the adjusted p of the claim the verdict makes (of the "
        "difference where it makes none), m: the family's size. PRIMARY: KSAC vs ASPP on mIoU per rate set; "
        "'paper's claim': where the paper's KSAC − ASPP gain stands against the 95% interval (inside, excluded, "
        "or not resolvable: the half-width is at least the claim). SECOND: adding rate 24 per head, its own "
        "family. 'one seed out': the verdict made again with each seed left out; a verdict that changes rests on "
        "that seed. EXPLORATORY rows (object sizes, classes) are corrected within their own family only: read "
        "them as leads to check, not as findings. A/A CHECK (when the grid ran --streams 2): one model against "
        "itself; a 'better' there would mean the procedure finds differences that are not there. A verdict "
        "holds for the protocol above, its training length included: on the quick recipe the spread of KSAC − "
        "ASPP over seeds falls threefold from 70 to 140 iterations (docs/results.md, 'Training length').")


def text(verdict: Verdict | None) -> str:
    """A verdict in words; a claim the interval alone made and Holm did not, in brackets."""
    if verdict is None:
        return "no verdict (no interval)"

    def words(kind: str | None) -> str:
        if kind == "difference":
            return f"{verdict.first if verdict.estimate > 0 else verdict.second} better"
        if kind == "equivalence":
            return f"equivalent within ±{verdict.margin:.2f} points"
        if kind == "not_worse":
            return f"{verdict.first} not worse by more than {verdict.margin:.2f} points"
        return "no difference detectable"

    return words(verdict.kind) + ("" if verdict.before_holm is None else
                                  f" ({words(verdict.before_holm)} before Holm's correction)")


def _family_rank(line: Line) -> int:
    return ORDER.index(line.family) if line.family in ORDER else len(ORDER)


def ordered(lines: list[Line]) -> list[Line]:
    return sorted(lines, key=_family_rank)  # stable: the order made within a family


def one_seed_out_text(line: Line) -> str:
    """'stable', or 'rests on seed 3 (without it: no difference detectable)'; '' where not checked."""
    if not line.interval or not line.interval.dropped or not line.p:
        return ""
    if not line.one_seed_out:
        return "stable"
    return "; ".join(f"rests on seed {seed} (without it: {text(verdict)})" for seed, verdict in line.one_seed_out)


def _fields(interval, *names: str) -> dict:
    """The `names` fields of a TwoWay; None each for a line without an interval (None)."""
    return {name: getattr(interval, name, None) for name in names}


def full_frame(lines: list[Line]) -> pd.DataFrame:
    """report_verdicts.csv: one row per comparison and metric, every number in its own column (points)."""
    rows = []
    for line in ordered(lines):
        ci, verdict = line.interval, line.verdict
        p = {claim: line.p.get(claim, (None, None)) for claim in CLAIMS}
        rows.append({
            "family": line.label, "comparison": line.comparison, "metric": line.metric,
            "first": line.first, "second": line.second, **_fields(ci, "delta", "low", "high"), "margin": line.margin,
            **_fields(ci, "seeds", "images", "df"), "method": getattr(ci, "method", ""),
            **_fields(ci, "seed_var", "image_var", "residual_var"),
            **{f"{P_COLUMNS[c]}{suffix}": p[c][k] for c in CLAIMS for suffix, k in (("", 0), ("_holm", 1))},
            "family_size": 0 if verdict is None else verdict.family_size, "verdict": text(verdict),
            "verdict_claim": line.kind or "", "verdict_p_holm": None if verdict is None else verdict.p,
            "claim": line.claim, "claim_stance": line.claim_stance or "", "one_seed_out": one_seed_out_text(line),
        })
    return pd.DataFrame(rows)


def _ci_text(line: Line) -> str:
    ci = line.interval
    if ci is None or ci.low is None:
        return "-"
    basis = f"{ci.seeds} seeds" + (f" x {ci.images} images" if ci.images else "")
    return f"{interval_text(ci)} ({basis}{'' if ci.images and ci.seeds > 1 else ', ' + ci.method})"


def compact_frame(lines: list[Line]) -> pd.DataFrame:
    """The table at the head of report.md: what, the family (EXPLORATORY in capitals), Δ, the interval, δ,
    the verdict with its own Holm-adjusted p, the paper's claim and the one-seed-out check."""
    rows = []
    for line in ordered(lines):
        verdict = line.verdict
        family = line.label if _family_rank(line) < 2 else line.label.replace("exploratory", "EXPLORATORY")
        rows.append({"comparison": line.comparison, "metric": line.metric, "family": family,
                     "Δ (points)": None if line.interval is None else line.interval.delta,
                     "95% CI": _ci_text(line), "±δ": line.margin, "verdict": text(verdict),
                     "p (Holm) of the verdict": "-" if verdict is None else
                     f"{verdict.p:.3f} ({verdict.claim.replace('_', ' ')}, m={verdict.family_size})",
                     "paper's claim": "" if line.claim is None else f"paper {line.claim:+.2f}: {line.claim_stance}",
                     "one seed out": one_seed_out_text(line)})
    return pd.DataFrame(rows)
