"""The qualitative figure: the same val images segmented by ASPP and KSAC, from the cells' `samples/`
folders only (engine/samples.py writes them; index.json lists ids, classes, palette). No torch.

Rows: the sample images, one block per rate set (first seed that both heads ran); columns: image | ground
truth | ASPP | KSAC (each merge). Colours from the dataset's palette, a legend of the classes shown."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from PIL import Image

from ksac_cli.report.plots import save_figure

SAMPLES = "samples"


def read_index(run_dir: str | Path) -> dict | None:
    """`<run_dir>/samples/index.json` with `folder` added, or None when missing or unreadable."""
    if not isinstance(run_dir, (str, Path)) or not str(run_dir):  # an empty CSV cell reads as NaN
        return None
    folder = Path(run_dir) / SAMPLES
    try:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {**index, "folder": folder} if isinstance(index, dict) and index.get("samples") else None


def blocks(df: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """([{"title", "columns": [(name, index)]}] one per backbone, output stride and rate set whose ASPP
    and at least one KSAC cell have samples at a common seed (the first such seed), [why a setting has
    none])."""
    out, missing = [], []
    for (backbone, stride, rates), group in df.groupby(["backbone", "output_stride", "rates"], sort=False):
        title = f"{backbone} OS{int(stride)} rates {rates}"
        made = False
        for seed in sorted(set(group[group["head"] == "aspp"]["seed"]) & set(group[group["head"] == "ksac"]["seed"])):
            cells = group[group["seed"] == seed]
            aspp = [read_index(r) for r in cells[cells["head"] == "aspp"]["run_dir"]][:1]
            ksac = [(f"KSAC ({m})", read_index(r)) for m, r in zip(cells[cells["head"] == "ksac"]["merge"],
                                                                     cells[cells["head"] == "ksac"]["run_dir"])]
            ksac = [(name, index) for name, index in ksac if index is not None]
            if aspp and aspp[0] is not None and ksac:
                out.append({"title": f"{title}, seed {int(seed)}", "columns": [("ASPP", aspp[0]), *ksac]})
                made = True
                break
        if not made:
            missing.append(title)
    return out, missing


def _labels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)  # (H, W) class indices of a palette PNG


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _colour(labels: np.ndarray, palette: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8; 255 in the ignore colour, unknown indices black."""
    table = np.zeros((256, 3), np.uint8)
    table[: len(palette)] = palette
    table[255] = ignore
    return table[labels.astype(np.int64).clip(0, 255)]


def qualitative_figure(df: pd.DataFrame, path: Path) -> str | None:
    """Draw the figure into `path`; None when made, else why not (for the report's "Not made")."""
    made, missing = blocks(df)
    if not made:
        return ("no samples/ folders in the ASPP and KSAC run directories of any seed (" + "; ".join(missing)
                + "): the qualitative figure needs runs trained by this version (`ksac ablate`)")
    rows = []  # (block title, sample entry, [(column name, index)])
    for block in made:
        first = block["columns"][0][1]
        for entry in first["samples"]:
            if all(any(e["id"] == entry["id"] for e in index["samples"]) for _, index in block["columns"]):
                rows.append((block["title"], entry, block["columns"]))
    if not rows:
        return "the ASPP and KSAC samples/ folders hold no image in common"
    ncols = 2 + max(len(columns) for *_, columns in rows)
    # inches: 2 per square panel, 2.4 for the row labels, 0.8 for the legend, 0.6 for the title
    panel, gap, label, legend, top = 2.0, 0.3, 2.4, 0.8, 0.6
    width, height = label + ncols * panel + (ncols - 1) * 0.1, len(rows) * (panel + gap) + legend + top
    fig, axes = plt.subplots(len(rows), ncols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=label / width, right=1 - 0.05 / width, bottom=legend / height, top=1 - top / height,
                        wspace=0.1 / panel, hspace=gap / panel)
    shown: set[int] = set()
    classes, palette, ignore = None, None, None
    for r, (title, entry, columns) in enumerate(rows):
        index = columns[0][1]
        classes, palette = index["classes"], np.asarray(index["palette"], np.uint8).reshape(-1, 3)
        ignore = np.asarray(index.get("ignore_colour", [255, 255, 255]), np.uint8)
        folder = index["folder"]
        truth = _labels(folder / entry["truth"])
        panels = [("image", _rgb(folder / entry["image"])),
                  ("ground truth", _colour(truth, palette, ignore))]
        shown.update(np.unique(truth).tolist())
        for name, other in columns:
            match = next(e for e in other["samples"] if e["id"] == entry["id"])
            pred = _labels(other["folder"] / match["pred"])
            shown.update(np.unique(pred).tolist())
            panels.append((name, _colour(pred, palette, ignore)))
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
            if c < len(panels):
                ax.imshow(panels[c][1], interpolation="nearest")
                if r == 0 or rows[r - 1][0] != title:
                    ax.set_title(panels[c][0], fontsize=9)
        why = f"{entry['bucket']} objects" if entry["bucket"] in ("small", "medium", "large") else "other image"
        axes[r][0].text(-0.04, 0.5, f"{entry['id']}\n{why}\n{title}",
                        transform=axes[r][0].transAxes, ha="right", va="center", fontsize=7)
    handles = [Patch(color=palette[k] / 255.0, label=classes[k]) for k in sorted(shown) if k < len(classes)]
    if 255 in shown:
        handles.append(Patch(color=ignore / 255.0, label="ignored (255)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
    fig.suptitle("Val images: ground truth, ASPP and KSAC predictions (same seed and rates; final evaluation)",
                 fontsize=10)
    save_figure(fig, path)
    return None
