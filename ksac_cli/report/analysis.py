"""The `ksac analyze` section of the report, from its files (written by workflows/analyze.py; their columns:
results/README.md). A model is a head (+ merge) and a rate set; its runs are its seeds. Each candidate head minus
ASPP is paired by seed for the same rates, with the 95% Student's t interval over the seeds only (these files hold
no per-image evidence: docs/results.md, "Verdicts"), and never judged. Only the ablation rows' own runs are used
(`matching`; docs/results.md, "Which analysis rows")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize

from ksac_cli.heads import spec
from ksac_cli.report.ablation import label, with_baseline
from ksac_cli.report.claims import Line
from ksac_cli.report.ablation_plots import HEAD_COLOURS
from ksac_cli.report.plots import save_figure
from ksac_cli.report.stats import interval_text, t_half_width, t_interval
from ksac_cli.report.twoway import seeds_only

SCALES_CSV, BRANCHES_CSV, ERF_CSV, ERF_NPZ = ("analysis_scales.csv", "analysis_branches.csv", "analysis_erf.csv",
                                              "analysis_erf.npz")
RUN_COLUMNS = ["run", "head", "merge", "rates", "seed", "iteration", "config_hash", "run_date", "amp"]
SCALE_COLUMNS = [*RUN_COLUMNS, "scale", "miou", "iou_small", "iou_medium", "iou_large", "images"]
BRANCH_COLUMNS = [*RUN_COLUMNS, "rate", "miou", "miou_all", "drop"]
ERF_COLUMNS = [*RUN_COLUMNS, "part", "unit", "r50", "r90", "images"]
LINE_STYLES = ["-", "--", ":", "-."]
RUN = ("run", "model", "head", "rates", "seed")  # robustness's columns that name a run, not a number


@dataclass
class Analysis:
    scales: pd.DataFrame
    branches: pd.DataFrame
    erf: pd.DataFrame
    maps: Path | None


def load(results: Path) -> Analysis | None:
    """The analysis files in `results`, each run labelled with its model; None without analysis_scales.csv."""
    if not (results / SCALES_CSV).is_file():
        return None

    def read(name: str) -> pd.DataFrame:
        path = results / name
        df = pd.read_csv(path, dtype={"rates": str, "merge": str}, keep_default_na=False, na_values=[""]) \
            if path.is_file() else pd.DataFrame()
        if not df.empty:
            df["merge"] = df["merge"].fillna("")
            df["model"] = [label(r) for r in df.itertuples()]
        return df

    maps = results / ERF_NPZ
    return Analysis(read(SCALES_CSV), read(BRANCHES_CSV), read(ERF_CSV), maps if maps.is_file() else None)


def runs_of(ablation_rows: pd.DataFrame) -> dict[str, set[str]]:
    """The runs of ablation rows as `matching` takes them: config_hash -> the dates of its rows."""
    by_hash = ablation_rows.groupby(ablation_rows["config_hash"].astype(str))
    return {h: set(rows["date"].fillna("").astype(str)) for h, rows in by_hash}


def matching(found: Analysis, runs: dict[str, set[str]] | None) -> tuple[Analysis, str]:
    """The analysis of the ablation's own runs, and a sentence saying how many runs were left out and why
    ("" when none). `runs`: the ablation rows' config_hash -> their dates (None: no ablation.csv, every run
    kept). A run is kept when its config_hash is there and its `run_date` (where it has one) is one of that
    hash's dates (docs/results.md, "Which analysis rows")."""
    if runs is None:
        return found, ""
    first = found.scales.drop_duplicates("run").set_index("run")  # each run's first row, in order
    names = list(first.index)
    if "config_hash" not in first:
        keep = set()
        why = (f"all {len(names)} analysed runs left out: {SCALES_CSV} has no config_hash column (made before it "
               f"existed), so its runs cannot be matched to ablation.csv's; rerun `ksac analyze`")
    else:
        hashes = first["config_hash"].astype(str)
        dates = first["run_date"].fillna("").astype(str) if "run_date" in first else pd.Series("", index=first.index)
        other_config = [r for r in names if hashes[r] not in runs]
        other_run = [r for r in names if hashes[r] in runs and dates[r] and dates[r] not in runs[hashes[r]]]
        keep = set(names) - set(other_config) - set(other_run)
        reasons = ([f"{len(other_config)} whose config_hash is not among ablation.csv's rows (e.g. "
                    f"{other_config[0]})"] if other_config else []) + (
                   [f"{len(other_run)} of an earlier run of the same config (its date is not the row's, e.g. "
                    f"{other_run[0]})"] if other_run else [])
        gone = len(other_config) + len(other_run)
        why = (f"{gone} of {len(names)} analysed runs left out: " + "; ".join(reasons)
               + "; rerun `ksac analyze` on the ablation's folder" if gone else "")

    def only(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["run"].isin(keep)] if not df.empty else df

    return Analysis(only(found.scales), only(found.branches), only(found.erf), found.maps), why


def _ci_text(values, signed: bool = True) -> str:
    """'mean [low, high]' (95% t interval over seeds), signs shown for differences; the mean alone for 1 seed."""
    ci, sign = t_interval(np.asarray(values, dtype=float)), "+" if signed else ""
    return f"{ci.mean:{sign}.2f}" + ("" if ci.low is None else f" {interval_text(ci, sign)}")


def _over_seeds(df: pd.DataFrame, keys: list[str], cells) -> pd.DataFrame:
    """One row per group of `keys` (in order of appearance): the keys, "seeds" (its rows) and `cells(group)`."""
    return pd.DataFrame([{**dict(zip(keys, key)), "seeds": len(g), **cells(g)}
                         for key, g in df.groupby(keys, sort=False, dropna=False)])


def robustness(scales: pd.DataFrame) -> pd.DataFrame:
    """Per run: mIoU at 1.0, the mean mIoU over the factors' range (trapezoid area / range) and the change
    at the smallest and largest factor relative to 1.0, in points."""
    rows = []
    for run, g in scales.groupby("run", sort=False):
        g = g.sort_values("scale")
        x, y = g["scale"].to_numpy(float), 100 * g["miou"].to_numpy(float)
        at_one = y[np.isclose(x, 1.0)]
        base = float(at_one[0]) if at_one.size else np.nan
        area = float(np.trapezoid(y, x) / (x[-1] - x[0])) if x.size > 1 else float(y[0])
        first = g.iloc[0]
        rows.append({"run": run, "model": first["model"], "head": first["head"], "rates": first["rates"],
                     "seed": int(first["seed"]), "miou_at_1": base, "mean_over_range": area,
                     f"change_at_{x[0]:g}": y[0] - base, f"change_at_{x[-1]:g}": y[-1] - base})
    return pd.DataFrame(rows)


def robustness_table(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per model: each robustness number, mean and 95% t interval over seeds (points / %)."""
    metrics = [c for c in per_run.columns if c not in RUN]
    return _over_seeds(per_run, ["model"], lambda g: {m: _ci_text(g[m], m.startswith("change")) for m in metrics})


def ksac_minus_aspp(per_run: pd.DataFrame) -> list[Line]:
    """Each candidate head minus ASPP for the same rates, paired by seed, for each robustness number but the
    mIoU at factor 1 (the ablation's own comparison): Student's t over the seeds only, never judged."""
    metrics = [c for c in per_run.columns if c not in (*RUN, "miou_at_1")]
    lines = []
    for (rates, model), pairs in with_baseline(per_run, ["rates", "seed"]).groupby(["rates", "model"], sort=False):
        first, second = spec(pairs["head"].iloc[0]).display, spec(pairs["head_base"].iloc[0]).display
        for m in metrics:
            lines.append(Line("scale sweep", f"rates {rates}: {model} vs {second}", m.replace("_", " "), first,
                              second, seeds_only((pairs[m] - pairs[f"{m}_base"]).to_numpy(float)), 0.0))
    return lines


def diff_table(lines: list[Line]) -> pd.DataFrame:
    """(e') each candidate head minus ASPP of the scale sweep (`ksac_minus_aspp`'s lines): the intervals over
    seeds only, no verdict; the column names the heads."""
    first = " / ".join(dict.fromkeys(x.first for x in lines))
    second = " / ".join(dict.fromkeys(x.second for x in lines))
    return pd.DataFrame([{"comparison": x.comparison, "metric": x.metric,
                          "seeds": x.interval.seeds, f"{first} - {second} (points)": x.interval.delta,
                          "95% CI over seeds only (t)": interval_text(x.interval)} for x in lines])


def branch_table(branches: pd.DataFrame) -> pd.DataFrame:
    """Per model and rate: the mIoU drop (points) when that branch is silenced, mean and t interval over seeds."""
    return _over_seeds(branches, ["model", "rate"],
                       lambda g: {"mIoU drop (points)": _ci_text(100 * g["drop"].to_numpy(float)),
                                  "mIoU without it (%)": 100 * g["miou"].mean()})


def erf_table(erf: pd.DataFrame) -> pd.DataFrame:
    """Per model and part: the radii holding 50% and 90% of the ERF's mass, mean and t interval over seeds."""
    return _over_seeds(erf, ["model", "part", "unit"],
                       lambda g: {r: _ci_text(g[r], signed=False) for r in ("r50", "r90")})


def _images(rows: pd.DataFrame) -> str:
    """The runs' image counts for a plot's title: '50', '25/50', or 'unknown' without an `images` column."""
    return "/".join(str(n) for n in sorted({int(v) for v in rows.get("images", pd.Series()).dropna()})) or "unknown"


def scale_plot(scales: pd.DataFrame, path: Path) -> None:
    """mIoU vs scale factor, one line per model: the mean over seeds and its 95% t band."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles: dict[str, int] = {}
    for model, g in scales.groupby("model", sort=False):
        head = g["head"].iloc[0]
        style = LINE_STYLES[styles.setdefault(head, 0) % len(LINE_STYLES)]
        styles[head] += 1
        stats = [(s, 100 * v["miou"].mean(), t_half_width(100 * v["miou"].to_numpy(float)) or 0.0, len(v))
                 for s, v in g.groupby("scale")]
        x, y, half, n = (np.array(c, dtype=float) for c in zip(*stats))
        colour = HEAD_COLOURS.get(head, "grey")
        ax.plot(x, y, style, marker="o", color=colour, label=f"{model} (n={int(n.max())})")
        ax.fill_between(x, y - half, y + half, color=colour, alpha=0.15)
    ax.axvline(1.0, color="grey", lw=0.8, alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(scales["scale"].unique()), [f"{s:g}" for s in sorted(scales["scale"].unique())])
    ax.set_xlabel("scale factor of every val image and mask (log scale)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title(f"Scale sweep: mean over seeds, band = 95% t-CI; {_images(scales)} val images per run", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # off the data
    save_figure(fig, path)


def erf_plot(erf: pd.DataFrame, maps_path: Path, path: Path) -> bool:
    """Each model's ERF maps averaged over its seeds, side by side: row 1 the whole model, row 2 the head
    alone; one colour scale per row (each map divided by the row's largest value), with its colour bar. The
    head's row is on a log scale from the 1st to the 100th percentile, so the atrous taps stand out beside
    the centre cell that would saturate a linear one."""
    with np.load(maps_path) as store:
        maps = {key: store[key] for key in store.files}
    parts = [p for p in ("model", "head") if p in set(erf["part"])]
    models = list(dict.fromkeys(erf["model"]))
    if not parts or not models:
        return False
    fig, axes = plt.subplots(len(parts), len(models), figsize=(3 * len(models), 3 * len(parts)), squeeze=False)
    for row, part in enumerate(parts):
        mean_maps = {}
        for model in models:
            runs = erf[(erf["model"] == model) & (erf["part"] == part)]["run"]
            stack = [maps[f"{r}/{part}"] for r in runs if f"{r}/{part}" in maps]
            if stack and len({m.shape for m in stack}) == 1:
                mean_maps[model] = np.mean(stack, axis=0)
        top = max((m.max() for m in mean_maps.values()), default=1.0) or 1.0
        shown = None
        values = np.concatenate([m.ravel() / top for m in mean_maps.values()]) if mean_maps else np.ones(1)
        positive = values[values > 0]
        floor = float(np.percentile(positive, 1)) if positive.size else 1e-6
        norm = LogNorm(vmin=max(floor, 1e-6), vmax=1.0) if part == "head" else Normalize(vmin=0.0, vmax=1.0)
        for col, model in enumerate(models):
            ax = axes[row, col]
            ax.set(xticks=[], yticks=[])
            if model in mean_maps:  # every map is |gradient| / top: in [0, 1]
                shown = ax.imshow(np.clip(mean_maps[model] / top, norm.vmin, 1.0), cmap="magma", norm=norm)
            ax.set_title(f"{model}\n{'whole model (image px)' if part == 'model' else 'head (feature cells)'}",
                         fontsize=8)
        if shown is not None:
            fig.colorbar(shown, ax=list(axes[row]), fraction=0.02, pad=0.01,
                         label="share of the row's max" + (" (log)" if part == "head" else ""))
    fig.suptitle(f"Effective receptive field |d centre / d input|, mean over seeds and {_images(erf)} val images "
                 f"per run; one colour scale per row", fontsize=9)
    save_figure(fig, path)
    return True
