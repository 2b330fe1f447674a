"""What every plot file shares (matplotlib, Agg backend, PNG: `save_figure`) and the confusion heatmap `ksac eval`
writes. Inputs are plain arrays and lists: no torch here. The report's plots: report/ablation_plots.py,
report/analysis.py, report/qualitative.py."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ksac_cli import io  # noqa: E402


def save_figure(fig, path: str | Path) -> None:
    """Render to memory (`io.serialised`), then write atomically (a crash never leaves half a PNG)."""
    data = io.serialised(lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))
    plt.close(fig)
    io.write_bytes(path, data)


def confusion_heatmap(matrix: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true class, columns: predicted), in % of the row's pixels."""
    matrix = np.asarray(matrix, dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(100.0 * matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    k = len(classes)
    side = max(4.0, min(0.35 * k + 2, 30.0))
    fig, ax = plt.subplots(figsize=(side, side))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    ax.set_xticks(range(k), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 25:
        for t in range(k):
            for p in range(k):
                if share[t, p] >= 0.5:
                    ax.text(p, t, f"{share[t, p]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if share[t, p] > 50 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the true class's pixels")
    ax.set_title(title or "confusion matrix")
    save_figure(fig, path)
