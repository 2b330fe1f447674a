"""The qualitative figures: the same val images segmented by ASPP and KSAC, from the cells' `samples/`
folders only (engine/qualitative.py writes them; index.json lists ids, classes, palette). No torch."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from PIL import Image

from ksac_cli.config import format_rates, parse_rates
from ksac_cli.heads import BASELINE, CANDIDATE, by_role, spec
from ksac_cli.report.plots import save_figure

SAMPLES = "samples"
MAX_ROWS = 6  # sample images per figure: readable at the width GitHub shows a PNG


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
    """([{"title", "columns": [(name, index)], "file"}] one per backbone, output stride and rate set whose
    ASPP and at least one candidate cell have samples at a common seed (the first such seed), [the settings
    that have none]). The file is qualitative_<backbone>_os<stride>_r<rates with dashes>.png, named like the
    cells' run directories."""
    out, missing = [], []
    for (backbone, stride, rates), group in df.groupby(["backbone", "output_stride", "rates"], sort=False):
        title = f"{backbone} OS{int(stride)} rates {rates}"
        file = f"qualitative_{backbone}_os{int(stride)}_r{format_rates(parse_rates(rates), '-')}.png"
        base, other = group[by_role(group["head"], BASELINE)], group[by_role(group["head"], CANDIDATE)]
        for seed in sorted(set(base["seed"]) & set(other["seed"])):
            aspp = read_index(base[base["seed"] == seed]["run_dir"].iloc[0])
            ksac = [(spec(h).label(m), read_index(r)) for h, m, r in
                    other[other["seed"] == seed][["head", "merge", "run_dir"]].itertuples(index=False)]
            ksac = [(name, index) for name, index in ksac if index is not None]
            if aspp is not None and ksac:
                out.append({"title": f"{title}, seed {int(seed)}", "columns": [("ASPP", aspp), *ksac], "file": file})
                break
        else:
            missing.append(title)
    return out, missing


def _read(path: Path, rgb: bool = False) -> np.ndarray:
    """(H, W) class indices of a palette PNG, or with `rgb` (H, W, 3) colours."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB") if rgb else im)


def _colour(labels: np.ndarray, palette: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8; 255 in the ignore colour, unknown indices black."""
    table = np.zeros((256, 3), np.uint8)
    table[: len(palette)] = palette
    table[255] = ignore
    return table[labels.astype(np.int64).clip(0, 255)]


def qualitative_figures(df: pd.DataFrame, out: Path) -> tuple[list[tuple[str, str]], str | None]:
    """One figure per backbone, output stride and rate set, written into `out`: [(file name, what it
    shows)], and why some or all settings have none (for the report's "Not made"; None when all have one)."""
    made, missing = blocks(df)
    figures, failed = [], []
    for block in made:
        why_not = draw(block, Path(out) / block["file"])
        if why_not is None:
            figures.append((block["file"], block["title"]))
        else:
            failed.append(f"{block['title']}: {why_not}")
    if missing:
        failed.append("no samples/ folders in the ASPP and KSAC run directories of any seed of "
                      + "; ".join(missing) + " (runs trained by this version of `ksac ablate` have them)")
    return figures, "; ".join(failed) or None


# inches: a square panel, the gap between rows, the row labels on the left, the legend below, and above the
# panels the figure's title (two lines) and the column headers, kept apart
PANEL, GAP, LABEL, LEGEND, TOP, TITLE_Y = 2.0, 0.3, 1.4, 0.8, 1.0, 0.12


def draw(block: dict, path: Path) -> str | None:
    """The block's figure: up to MAX_ROWS sample images (rows) x image | ground truth | ASPP | KSAC (each
    merge); None when drawn, else why not."""
    columns = block["columns"]
    first = columns[0][1]
    entries = [entry for entry in first["samples"]
               if all(any(e["id"] == entry["id"] for e in index["samples"]) for _, index in columns)][:MAX_ROWS]
    if not entries:
        return "the ASPP and KSAC samples/ folders hold no image in common"
    nrows, ncols = len(entries), 2 + len(columns)
    width, height = LABEL + ncols * PANEL + (ncols - 1) * 0.1, nrows * (PANEL + GAP) - GAP + LEGEND + TOP
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=LABEL / width, right=1 - 0.05 / width, bottom=LEGEND / height, top=1 - TOP / height,
                        wspace=0.1 / PANEL, hspace=GAP / PANEL)
    classes, palette = first["classes"], np.asarray(first["palette"], np.uint8).reshape(-1, 3)
    ignore = np.asarray(first.get("ignore_colour", [255, 255, 255]), np.uint8)
    folder = first["folder"]
    shown: set[int] = set()
    for r, entry in enumerate(entries):
        truth = _read(folder / entry["truth"])
        panels = [("image", _read(folder / entry["image"], rgb=True)),
                  ("ground truth", _colour(truth, palette, ignore))]
        shown.update(np.unique(truth).tolist())
        for name, other in columns:
            match = next(e for e in other["samples"] if e["id"] == entry["id"])
            pred = _read(other["folder"] / match["pred"])
            shown.update(np.unique(pred).tolist())
            panels.append((name, _colour(pred, palette, ignore)))
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
            ax.imshow(panels[c][1], interpolation="nearest")
            if r == 0:
                ax.set_title(panels[c][0], fontsize=9)
        why = f"{entry['bucket']} objects" if entry["bucket"] in ("small", "medium", "large") else "other image"
        axes[r][0].text(-0.04, 0.5, f"{entry['id']}\n{why}", transform=axes[r][0].transAxes, ha="right",
                        va="center", fontsize=8)
    handles = [Patch(color=palette[k] / 255.0, label=classes[k]) for k in sorted(shown) if k < len(classes)]
    if 255 in shown:
        handles.append(Patch(color=ignore / 255.0, label="ignored (255)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
    fig.suptitle(f"Val images: ground truth, ASPP and KSAC predictions (final evaluation)\n{block['title']}",
                 y=1 - TITLE_Y / height, va="top", fontsize=10)
    save_figure(fig, path)
    return None
