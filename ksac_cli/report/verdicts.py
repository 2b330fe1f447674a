"""The verdict table: `report_verdicts.csv` (numbers in columns, documented in results/README.md) and its
compact Markdown/LaTeX form at the head of report.md, from the lines `claims.judge` decided."""

from __future__ import annotations

import pandas as pd

from ksac_cli.report.claims import PRIMARY, Line

SIZE, CLASSES, SCALES = "exploratory: object size", "exploratory: per class", "exploratory: scale sweep"
AA = "A/A check"  # one model against itself with other seed streams (ksac ablate --streams 2): its own family
ORDER = [PRIMARY, AA, SIZE, CLASSES, SCALES]  # the primary family first; within a family, the order made

NOTE = ("Δ = first minus second in points, paired by seed (same backbone, output stride and rates; for rate 24 "
        "the same head). 95% CI: over seeds AND val images (t over the seeds' differences plus a bootstrap over "
        "the images, one resample shared by both models and every seed, Welch–Satterthwaite degrees of freedom; "
        "docs/results.md); 't over seeds only' where a run's per-image evidence is missing, which leaves the val "
        "set's sampling out; 'bootstrap over images, 1 seed' leaves training randomness out. δ: the margin "
        "(points) from the ablation rows' `margin` column (1.00 where absent). Verdicts: 'better' when the "
        "difference excludes 0, 'equivalent within ±δ' when the interval lies inside ±δ, 'not worse by more "
        "than δ' when its lower bound is above −δ; each claim's p-value adjusted by Holm's method within its "
        "family (p (Holm): the difference's), so the chance of any false claim of a kind in a family is at most "
        "5%. PRIMARY: the mIoU comparisons (KSAC vs ASPP per rate set, adding rate 24 per head). EXPLORATORY "
        "rows (object sizes, classes, scale sweep) are corrected within their own family only: read them as "
        "leads to check, not as findings. A/A CHECK (when the grid ran --streams 2): one model against itself "
        "trained from other seeds; a 'better' there would mean the procedure finds differences that are not "
        "there ('equivalent' or 'not worse by more than δ' are what it should find).")


def _family_rank(line: Line) -> int:
    base = line.family.rsplit(" / ", 1)[-1]
    return ORDER.index(base) if base in ORDER else len(ORDER)


def ordered(lines: list[Line]) -> list[Line]:
    return sorted(lines, key=_family_rank)  # stable: the order made within a family


def full_frame(lines: list[Line]) -> pd.DataFrame:
    """report_verdicts.csv: one row per comparison and metric, every number in its own column (points)."""
    rows = []
    for line in ordered(lines):
        ci = line.interval
        p = {claim: line.p.get(claim, (None, None)) for claim in ("difference", "equivalence", "not_worse")}
        rows.append({
            "family": line.family, "comparison": line.comparison, "metric": line.metric,
            "first": line.first, "second": line.second,
            "delta": None if ci is None else ci.delta, "low": None if ci is None else ci.low,
            "high": None if ci is None else ci.high, "margin": line.margin,
            "seeds": None if ci is None else ci.seeds, "images": None if ci is None else ci.images,
            "df": None if ci is None else ci.df, "method": "" if ci is None else ci.method,
            "seed_var": None if ci is None else ci.seed_var, "image_var": None if ci is None else ci.image_var,
            "residual_var": None if ci is None else ci.residual_var,
            "p": p["difference"][0], "p_holm": p["difference"][1],
            "p_equivalent": p["equivalence"][0], "p_equivalent_holm": p["equivalence"][1],
            "p_not_worse": p["not_worse"][0], "p_not_worse_holm": p["not_worse"][1],
            "family_size": line.family_size, "verdict": line.verdict,
        })
    return pd.DataFrame(rows)


def _ci_text(line: Line) -> str:
    ci = line.interval
    if ci is None or ci.low is None:
        return "-"
    basis = f"{ci.seeds} seeds" + (f" x {ci.images} images" if ci.images else "")
    return f"[{ci.low:+.2f}, {ci.high:+.2f}] ({basis}{'' if ci.images and ci.seeds > 1 else ', ' + ci.method})"


def compact_frame(lines: list[Line]) -> pd.DataFrame:
    """The table at the head of report.md: what, the family (EXPLORATORY in capitals), Δ, the interval,
    δ, the Holm-adjusted p of the difference, the verdict."""
    rows = []
    for line in ordered(lines):
        adjusted = line.p.get("difference", (None, None))[1]
        family = line.family if _family_rank(line) == 0 else line.family.replace("exploratory", "EXPLORATORY")
        rows.append({"comparison": line.comparison, "metric": line.metric, "family": family,
                     "Δ (points)": None if line.interval is None else line.interval.delta,
                     "95% CI": _ci_text(line), "±δ": line.margin,
                     "p (Holm)": "-" if adjusted is None else f"{adjusted:.3f} (m={line.family_size})",
                     "verdict": line.verdict})
    return pd.DataFrame(rows)
