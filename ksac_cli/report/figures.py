"""The report's plots (PNG): mIoU vs parameters, mIoU per rate set, per-class IoU, per-size IoU,
training curves. Inputs are the tables of report/ablation.py and the run directories' JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ksac_cli.report.ablation import SIZES
from ksac_cli.report.plots import save_figure

HEAD_COLOURS = {"aspp": "#d95f02", "ksac": "#1b9e77"}


def miou_vs_params(df: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for model, group in df.groupby("model", sort=False):
        x, y = group["params_total"].iloc[0] / 1e6, 100 * group["miou"].mean()
        err = 100 * group["miou"].std(ddof=1) if len(group) > 1 else 0.0
        ax.errorbar(x, y, yerr=err, fmt="o", color=HEAD_COLOURS.get(group["head"].iloc[0], "grey"), capsize=3)
        ax.annotate(model, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title("mIoU vs model size")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def miou_by_rates(df: pd.DataFrame, path: Path) -> None:
    rate_sets = list(dict.fromkeys(df["rates"]))
    heads = list(dict.fromkeys(df["head"] + df["merge"].where(df["head"] == "ksac", "")))
    width = 0.8 / max(len(heads), 1)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, head in enumerate(heads):
        means, stds = [], []
        for rates in rate_sets:
            sel = df[(df["rates"] == rates) & ((df["head"] + df["merge"].where(df["head"] == "ksac", "")) == head)]
            means.append(100 * sel["miou"].mean() if len(sel) else np.nan)
            stds.append(100 * sel["miou"].std(ddof=1) if len(sel) > 1 else 0.0)
        name = "ASPP" if head == "aspp" else f"KSAC ({head.removeprefix('ksac')})"
        ax.bar(np.arange(len(rate_sets)) + i * width, means, width, yerr=stds, capsize=3, label=name,
               color=HEAD_COLOURS.get(head[:4]), alpha=0.6 + 0.4 * (i % 2))
    ax.set_xticks(np.arange(len(rate_sets)) + width * (len(heads) - 1) / 2, [f"rates {r}" for r in rate_sets])
    ax.set_ylabel("val mIoU (%)")
    ax.set_title("mIoU per rate set (mean ± std over seeds)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def grouped_bars(table: pd.DataFrame, columns: list[str], path: Path, ylabel: str, title: str) -> None:
    """One group per column (a class or a size), one bar per model row."""
    width = 0.8 / max(len(table), 1)
    fig, ax = plt.subplots(figsize=(max(6.5, 0.6 * len(columns) * max(len(table), 1) / 2), 4.5))
    for i, (_, row) in enumerate(table.iterrows()):
        values = [row[c] for c in columns]
        ax.bar(np.arange(len(columns)) + i * width, [np.nan if v is None else v for v in values], width,
               label=row["model"])
    ax.set_xticks(np.arange(len(columns)) + width * (len(table) - 1) / 2, columns, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def per_class_bars(table: pd.DataFrame, path: Path) -> None:
    grouped_bars(table, [c for c in table.columns if c != "model"], path,
                 "IoU (%)", "per-class IoU")


def size_bars(table: pd.DataFrame, path: Path) -> None:
    grouped_bars(table.rename(columns={f"{s} (%)": s for s in SIZES}), list(SIZES), path,
                 "IoU (%)", "IoU by object size (small < 32², medium < 96² px)")


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def training_curves(df: pd.DataFrame, path: Path) -> bool:
    """Loss and val mIoU vs iteration, one line per cell. False when no run directory has logs."""
    fig, (loss_ax, miou_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    drawn = False
    for r in df.itertuples():
        metrics, evals = _jsonl(Path(r.run_dir) / "metrics.jsonl"), _jsonl(Path(r.run_dir) / "eval.jsonl")
        if not metrics:
            continue
        drawn = True
        name = f"{r.model} s{r.seed}"
        line, = loss_ax.plot([m["iteration"] for m in metrics], [m["loss"] for m in metrics], label=name)
        if evals:
            miou_ax.plot([e["iteration"] for e in evals], [100 * e["miou"] for e in evals], "o-",
                         color=line.get_color(), label=name)
    loss_ax.set_xlabel("iteration")
    loss_ax.set_ylabel("training loss (cross-entropy)")
    miou_ax.set_xlabel("iteration")
    miou_ax.set_ylabel("val mIoU (%)")
    loss_ax.legend(fontsize=7)
    for ax in (loss_ax, miou_ax):
        ax.grid(alpha=0.3)
    if drawn:
        save_figure(fig, path)
    else:
        plt.close(fig)
    return drawn
