"""Hand-made evidence for the report tests: run directories with eval_images.npz (written here with numpy,
following results/README.md, not with the toolkit's writer) and samples/ folders, and ablation rows whose
numbers are computed from those matrices with the engine's own metrics (torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ksac_cli.engine.evaluate import object_miou
from ksac_cli.engine.metrics import ConfusionMatrix

CLASSES = ["background", "disc", "square"]
PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
IDS = ["img_c", "img_a", "img_e", "img_b", "img_d"]  # deliberately not sorted
SIZES = ("small", "medium", "large")


def truth_counts(seed: int = 7) -> np.ndarray:
    """(N, 4, K) ground-truth pixels per image, size group and class: background only in group 0, the
    object classes only in the size groups (some images lack some sizes)."""
    rng = np.random.default_rng(seed)
    t = np.zeros((len(IDS), 4, len(CLASSES)), np.int64)
    t[:, 0, 0] = rng.integers(500, 900, len(IDS))
    t[:, 1:, 1:] = rng.integers(0, 3, (len(IDS), 3, 2)) * rng.integers(20, 120, (len(IDS), 3, 2))
    t[0, 1:, 1:] = 50  # every size present somewhere
    return t


def matrices(quality: float, truth: np.ndarray) -> np.ndarray:
    """(N, 4, K, K) int32: a share `quality` of each class's pixels right, the rest taken for the next class."""
    n, g, k = truth.shape
    conf = np.zeros((n, g, k, k), np.int64)
    right = np.round(quality * truth).astype(np.int64)
    for c in range(k):
        conf[:, :, c, c] = right[:, :, c]
        conf[:, :, c, (c + 1) % k] = truth[:, :, c] - right[:, :, c]
    return conf.astype(np.int32)


def write_npz(run_dir: Path, conf: np.ndarray, ids=IDS) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(run_dir / "eval_images.npz", ids=np.array(ids), confusion=conf,
                        groups=np.array(["none", *SIZES]), classes=np.array(CLASSES))


def engine_metrics(conf: np.ndarray) -> dict:
    """miou and iou_<size> of (N, 4, K, K) matrices by the engine's ConfusionMatrix and object_miou."""
    whole = ConfusionMatrix(len(CLASSES))
    whole.mat += torch.from_numpy(conf.sum(axis=(0, 1)).astype(np.int64))
    out = {"miou": whole.compute()["miou"]}
    for g, size in enumerate(SIZES, start=1):
        cm = ConfusionMatrix(len(CLASSES))
        cm.mat += torch.from_numpy(conf[:, g].sum(axis=0).astype(np.int64))
        out[f"iou_{size}"] = object_miou(cm)
    return out


def write_samples(run_dir: Path, ids: list[str], shift: int) -> None:
    """samples/ with index.json and 8x8 image, truth and prediction files (the prediction: the truth's
    classes shifted by `shift`, so ASPP and KSAC columns differ)."""
    folder = run_dir / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(PALETTE)] = PALETTE
    entries = []
    for n, sample_id in enumerate(ids):
        truth = np.zeros((8, 8), np.uint8)
        truth[2:6, 2:6] = 1 + n % 2
        truth[0, 0] = 255
        pred = np.where(truth == 255, 255, (truth + shift) % len(CLASSES)).astype(np.uint8)
        Image.fromarray(np.full((8, 8, 3), 40 * n, np.uint8)).save(folder / f"{sample_id}_image.jpg")
        for name, labels in (("truth", truth), ("pred", pred)):
            png = Image.fromarray(labels, mode="P")
            png.putpalette(palette.reshape(-1).tolist())
            png.save(folder / f"{sample_id}_{name}.png")
        entries.append({"id": sample_id, "bucket": SIZES[n % 3], "image": f"{sample_id}_image.jpg",
                        "truth": f"{sample_id}_truth.png", "pred": f"{sample_id}_pred.png"})
    (folder / "index.json").write_text(json.dumps({"ids": ids, "iteration": 10, "classes": CLASSES,
                                                   "palette": PALETTE, "ignore_colour": [224, 224, 192],
                                                   "samples": entries}))


def ablation_row(head: str, rates: str, seed: int, metrics: dict, run_dir: Path | str, merge: str = "concat") -> dict:
    """One status-ok row of results/ablation.csv (experiments/rows.py) carrying `metrics` (fractions)."""
    return {
        "grid": "g", "cell": f"{head}-{rates}-s{seed}", "seed": seed, "config_hash": "abc", "status": "ok",
        "backbone": "mobilenetv2_050", "head": head, "merge": merge, "rates": rates, "output_stride": 16,
        "decoder": True, "dataset": "synthetic", "iterations": 10, "crop_size": 64, "batch_size": 2,
        "params_total": 5_000_000 if head == "ksac" else 6_000_000, "params_head": 1_000_000,
        "gmacs_total": 1.5, "gmacs_head": 0.5, "pixel_accuracy": 0.9,
        "per_class_iou": json.dumps(dict(zip(CLASSES, [0.9, metrics["miou"], None]))), "best_miou": metrics["miou"],
        "best_iteration": 10, "train_seconds": 12.0, "images_per_s": 3.0, "run_dir": str(run_dir), "error": "",
        "git_commit": "x", "toolkit_version": "0.1.0", "torch_version": "2", "device": "cpu", "date": "2026-11-24",
        **metrics,
    }
