"""The evidence an evaluation leaves in its run directory, so `ksac report` can recompute every number
(bootstrap intervals over images, per-size IoU) from files, without torch: `eval_images.npz` (per image and
size group, the confusion matrix: `write_eval_images`) and `samples/` (engine/qualitative.py). Under
torch.distributed rank 0 gathers every rank's per-image matrices and alone writes the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ksac_cli import io
from ksac_cli.engine.evaluate import GROUPS, EvalResult

EVAL_IMAGES = "eval_images.npz"
SAMPLES = "samples"


def gather_per_image(per_image: list, dist=None) -> list:
    """Every rank's [(id, (G, K, K) matrix)] on rank 0, sorted by id ([] on the other ranks). A collective
    call under torch.distributed: every rank must make it. Without `dist` (or single-process): sorted."""
    if dist is not None and dist.active:
        import torch.distributed as torch_dist

        parts = [None] * dist.world_size if dist.is_main else None
        torch_dist.gather_object(list(per_image), parts, dst=0)
        if not dist.is_main:
            return []
        per_image = [item for part in parts for item in part]
    return sorted(per_image, key=lambda item: item[0])


def write_eval_images(path: str | Path, per_image: list, classes: list[str]) -> None:
    """`path` (.npz, compressed) with arrays
    `ids` (N,) str; `confusion` (N, G, K, K) int32 pixel counts [image, group, true class, predicted class],
    group 0: pixels of no ground-truth object, 1..3: of small / medium / large objects; `groups` (G,) str;
    `classes` (K,) str. Pixels labelled 255 are not counted, so the sum over images and groups is the
    split's confusion matrix exactly."""
    k = len(classes)
    confusion = (np.stack([m for _, m in per_image]).astype(np.int32) if per_image
                 else np.zeros((0, len(GROUPS), k, k), np.int32))
    io.write_npz(path, ids=np.array([i for i, _ in per_image], dtype=str), confusion=confusion,
                 groups=np.array(GROUPS), classes=np.array(list(classes), dtype=str))


def write_evidence(run_dir: str | Path, iteration: int, result: EvalResult, dataset, model, cfg, dist=None) -> None:
    """After an evaluation in training: gather the per-image matrices and (rank 0) write
    `<run_dir>/eval_images.npz` and `<run_dir>/samples/`, the latter predicted with `model` on
    `dist.device` (the evaluation's scales, flip and amp). Each evaluation replaces the previous one's."""
    from ksac_cli.engine.qualitative import buckets_present, choose_samples, write_samples

    per_image = gather_per_image(result.per_image, dist)
    if dist is not None and not dist.is_main:
        return
    run_dir = Path(run_dir)
    write_eval_images(run_dir / EVAL_IMAGES, per_image, dataset.classes)
    chosen = choose_samples(*buckets_present(per_image))
    device = dist.device if dist is not None else next(model.parameters()).device
    write_samples(run_dir / SAMPLES, chosen, model, dataset, device, cfg.eval.scales, cfg.eval.flip,
                  cfg.train.amp, iteration)
