"""The report's plots (PNG): the forest plot of the verdicts, mIoU vs parameters, mIoU per rate set,
per-class IoU, per-size IoU, training curves. Inputs are the ablation rows, the tables of report/ablation.py
and the run directories' JSON lines. Error bars are 95% Student's t intervals over seeds (none with one seed;
the title says so)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ksac_cli import io
from ksac_cli.conventions import SIZE_BUCKETS
from ksac_cli.report.ablation import head_labels
from ksac_cli.report.plots import save_figure
from ksac_cli.report.stats import t_half_width

HEAD_COLOURS = {"aspp": "#d95f02", "ksac": "#1b9e77"}
# a verdict's kind (claims.CLAIMS; None: no claim) -> (its colour, its name in the legend)
VERDICT_COLOURS = {"difference": ("#1b7837", "better"), "equivalence": ("#2166ac", "equivalent"),
                   "not_worse": ("#5aae61", "not worse"), None: ("#555555", "none")}
CLAIM_COLOUR = "#d7301f"


def _common_prefix(names: list[str]) -> str:
    """The words ("mobilenetv2_035 OS8 ") every name opens with, to be said once in the title."""
    words = [n.split(" ") for n in names]
    shared = []
    for column in zip(*words):
        if len(set(column)) > 1 or column[0].endswith(":"):
            break
        shared.append(column[0])
    return " ".join(shared[:2])


def forest_plot(lines: list, path: Path) -> bool:
    """Each comparison's Δ (points) with its 95% interval, one row per line (claims.Line), under its
    family's name, the ±δ band shaded and the paper's claim (where it has one) drawn as a red tick across
    the row; the colour says the verdict (after Holm). False without intervals."""
    shown = [x for x in lines if x.interval is not None and x.interval.low is not None]
    if not shown:
        return False
    prefix = _common_prefix([x.comparison for x in shown])
    rows: list = []  # a family's name (str), then its lines
    for x in shown:
        if x.label not in rows:
            rows.append(x.label)
        rows.append(x)
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.3 * len(rows)))
    labels = []
    for y, x in enumerate(rows):
        if isinstance(x, str):
            labels.append(x.upper())
            ax.axhline(y, color="#999999", lw=0.6)
            continue
        colour = VERDICT_COLOURS[x.kind][0]
        ax.fill_betweenx([y - 0.4, y + 0.4], -x.margin, x.margin, color="#cccccc", alpha=0.6, lw=0)
        if x.claim is not None:
            ax.plot([x.claim, x.claim], [y - 0.42, y + 0.42], color=CLAIM_COLOUR, lw=2)
        ax.plot([x.interval.low, x.interval.high], [y, y], color=colour, lw=2)
        ax.plot(x.interval.delta, y, "o", color=colour, ms=5)
        labels.append(f"{x.comparison.removeprefix(prefix).strip()}  [{x.metric}]")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    for tick, row in zip(ax.get_yticklabels(), rows):
        if isinstance(row, str):
            tick.set_fontweight("bold")
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first line on top
    ax.set_xlabel("Δ = first minus second (points): 95% interval; grey band: ±δ; red tick: the paper's claim")
    handles = [plt.Line2D([], [], color=c, marker="o", lw=2, label=k) for c, k in VERDICT_COLOURS.values()]
    handles.append(plt.Line2D([], [], color=CLAIM_COLOUR, lw=2, label="paper's claim"))
    ax.legend(handles=handles, title="verdict (Holm)", fontsize=8, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title(f"Verdicts{' of ' + prefix if prefix else ''}: Δ and its 95% interval per comparison", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)
    return True


def mean_ci(values: pd.Series) -> tuple[float, float, int]:
    """(mean, half width of the 95% t interval (0 with one value), n) of fractions, in percent."""
    values = 100.0 * values.dropna().to_numpy(float)
    if values.size == 0:
        return np.nan, 0.0, 0
    half = t_half_width(values)
    return float(values.mean()), 0.0 if half is None else half, int(values.size)


def spread_note(counts) -> str:
    """What the error bars are, for a title: 95% t intervals over seeds, or why there are none."""
    counts = [n for n in counts if n]
    if not counts or max(counts) < 2:
        return "1 seed: no error bars"
    if min(counts) < 2:
        return "error bars: 95% t-CI over seeds (none where 1 seed)"
    seeds = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
    return f"error bars: 95% t-CI over {seeds} seeds"


def miou_vs_params(df: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    counts = []
    for model, group in df.groupby("model", sort=False):
        x = group["params_total"].iloc[0] / 1e6
        y, err, n = mean_ci(group["miou"])
        counts.append(n)
        ax.errorbar(x, y, yerr=err if n > 1 else None, fmt="o",
                    color=HEAD_COLOURS.get(group["head"].iloc[0], "grey"), capsize=3)
        ax.annotate(f"{model} (n={n})", (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("val mIoU (%), mean over seeds")
    ax.set_title(f"mIoU vs model size ({spread_note(counts)})", fontsize=10)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


# The first seeds' line styles: matplotlib's four named styles, then dash patterns (`seed_style`)
SEED_STYLES = ["-", "--", ":", "-.", (0, (8, 2)), (0, (1, 3)), (0, (5, 1, 1, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1, 1, 1))]


def seed_style(k: int):
    """The line style of the k-th seed (0, 1, ...), distinct for every k: SEED_STYLES, then a dash of 2, 4,
    6, ... points followed by a dot (a budget's default ablation runs 13 seeds here)."""
    if k < len(SEED_STYLES):
        return SEED_STYLES[k]
    return (0, (2 + 2 * (k - len(SEED_STYLES)), 1.5, 1, 1.5))


def miou_by_rates(df: pd.DataFrame, path: Path) -> None:
    """Each seed's final mIoU per rate set and head, the seeds of one rate set joined across the heads (a
    seed's models share its data order: the pairs the verdicts compare); the axis spans the data, not 0."""
    rate_sets = list(dict.fromkeys(df["rates"]))
    names = head_labels(df)
    heads = list(dict.fromkeys(names))
    colours = {n: HEAD_COLOURS.get(h, "grey") for n, h in zip(names, df["head"])}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    seeds = sorted(df["seed"].unique())
    for r, rates in enumerate(rate_sets):
        xs = r * (len(heads) + 1) + np.arange(len(heads))
        for k, seed in enumerate(seeds):
            ys = [df[(df["rates"] == rates) & (names == h) & (df["seed"] == seed)]["miou"] for h in heads]
            ys = [100 * float(v.iloc[-1]) if len(v) else np.nan for v in ys]
            ax.plot(xs, ys, ls=seed_style(k), color="grey", lw=1, zorder=1,
                    label=f"seed {seed}" if r == 0 else None)
            for x, y, h in zip(xs, ys, heads):
                ax.plot(x, y, "o", color=colours[h], ms=6, zorder=2)
    ticks = [(r * (len(heads) + 1) + i, f"{h}\nrates {rates}")
             for r, rates in enumerate(rate_sets) for i, h in enumerate(heads)]
    ax.set_xticks([t for t, _ in ticks], [name for _, name in ticks], fontsize=8)
    ax.set_ylabel("val mIoU (%), each seed")
    ax.set_title(f"mIoU per seed; lines join one seed's models ({len(seeds)} seed{'s' * (len(seeds) > 1)})",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def grouped_bars(table: pd.DataFrame, columns: list[str], path: Path, ylabel: str, title: str,
                 errors: pd.DataFrame | None = None) -> None:
    """One group per column (a class or a size), one bar per model row; `errors` (same shape) are the
    half widths of the error bars (0: none)."""
    width = 0.8 / max(len(table), 1)
    fig, ax = plt.subplots(figsize=(max(6.5, 0.6 * len(columns) * max(len(table), 1) / 2), 4.5))
    for i, (_, row) in enumerate(table.iterrows()):
        values = [np.nan if row[c] is None else row[c] for c in columns]
        yerr = None if errors is None else [errors.iloc[i][c] for c in columns]
        ax.bar(np.arange(len(columns)) + i * width, values, width, yerr=yerr, capsize=3, label=row["model"])
    ax.set_xticks(np.arange(len(columns)) + width * (len(table) - 1) / 2, columns, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def per_class_bars(table: pd.DataFrame, path: Path) -> None:
    grouped_bars(table, [c for c in table.columns if c != "model"], path,
                 "IoU (%), mean over seeds", "per-class IoU (mean over seeds, no error bars)")


def size_bars(df: pd.DataFrame, path: Path) -> None:
    """IoU per object size and model from the ablation rows: mean over seeds, 95% t-CI error bars."""
    means, errors, counts = [], [], []
    for model, group in df.groupby("model", sort=False):
        stats = {s: mean_ci(group[f"iou_{s}"]) for s in SIZE_BUCKETS}
        means.append({"model": f"{model} (n={len(group)})", **{s: m for s, (m, _, _) in stats.items()}})
        errors.append({s: e for s, (_, e, _) in stats.items()})
        counts += [n for _, _, n in stats.values()]
    grouped_bars(pd.DataFrame(means), list(SIZE_BUCKETS), path, "IoU (%), mean over seeds",
                 f"IoU by object size (small < 32², medium < 96² px; {spread_note(counts)})",
                 pd.DataFrame(errors) if max(counts, default=0) > 1 else None)


def training_curves(df: pd.DataFrame, path: Path) -> bool:
    """Training loss vs iteration, one line per cell (a colour per model, a line style per seed, the legend
    below the axes), and val mIoU: vs iteration when some run was evaluated more than once, else the final
    mIoU of each run by model, seeds as points. False when no run directory has logs."""
    runs = []
    for r in df.itertuples():
        if not isinstance(r.run_dir, str) or not r.run_dir:  # an empty CSV cell reads as NaN
            continue
        metrics, evals = (io.read_jsonl(Path(r.run_dir) / name) for name in ("metrics.jsonl", "eval.jsonl"))
        if metrics:
            runs.append((r.model, int(r.seed), metrics, evals))
    if not runs:
        return False
    fig, (loss_ax, miou_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    curves = any(len(evals) > 1 for *_, evals in runs)
    models = list(dict.fromkeys(model for model, *_ in runs))
    seeds = sorted({seed for _, seed, *_ in runs})
    colours = plt.get_cmap("tab10")
    for model, seed, metrics, evals in runs:
        colour, style = colours(models.index(model) % 10), seed_style(seeds.index(seed))
        name = f"{model} s{seed}"
        loss_ax.plot([m["iteration"] for m in metrics], [m["loss"] for m in metrics], ls=style, color=colour, lw=1.2,
                     label=name)
        if not evals:
            continue
        if curves:
            miou_ax.plot([e["iteration"] for e in evals], [100 * e["miou"] for e in evals], ls=style, marker="o",
                         color=colour, ms=3, label=name)
        else:
            miou_ax.plot([models.index(model)], [100 * evals[-1]["miou"]], "o", color=colour)
    loss_ax.set_xlabel("iteration")
    loss_ax.set_ylabel("training loss (cross-entropy)")
    handles = ([plt.Line2D([], [], color=colours(i % 10), lw=2, label=m) for i, m in enumerate(models)]
               + [plt.Line2D([], [], color="black", ls=seed_style(i), label=f"seed {s}")
                  for i, s in enumerate(seeds)])
    below = -0.12 if not curves else 0.0  # under the rotated model names of the right panel, not over them
    fig.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, below), ncol=4)
    miou_ax.set_ylabel("val mIoU (%)")
    if curves:
        miou_ax.set_xlabel("iteration")
        miou_ax.set_title("val mIoU at each evaluation", fontsize=10)
    else:
        miou_ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
        miou_ax.set_xlim(-0.5, len(models) - 0.5)
        miou_ax.set_title("final val mIoU (one evaluation per run; a point per seed)", fontsize=10)
    for ax in (loss_ax, miou_ax):
        ax.grid(alpha=0.3)
    save_figure(fig, path)
    return True
