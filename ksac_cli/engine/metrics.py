"""Segmentation metrics from ONE confusion matrix accumulated over the whole split.

Conventions (stated in `ksac eval --help` and README): pixels labelled `ignore_index` (255) are ignored;
IoU_c = TP / (TP + FP + FN); a class absent from both the ground truth and the predictions has no IoU
and is left out of the mean (it is not counted as 0 or 1). All values are fractions in [0, 1].
"""

from __future__ import annotations

import math

import torch

from ksac_cli.conventions import IGNORE_INDEX


class ConfusionMatrix:
    """`mat[t, p]` counts pixels of true class t predicted as p. Accumulate with `update`, then `compute`."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, device: torch.device | str = "cpu") -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred, target: integer tensors of the same shape (any), values in [0, K) or ignore_index."""
        self.mat += confusion_counts(pred, target, self.num_classes, self.ignore_index)[0].to(self.mat.device)

    def compute(self) -> dict:
        return metrics_from_matrix(self.mat)


def confusion_counts(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX,
                     groups: torch.Tensor | None = None, num_groups: int = 1) -> torch.Tensor:
    """(num_groups, K, K) pixel counts [g, true, predicted], in ONE bincount over every pixel: `groups` (same
    shape, values in [0, num_groups)) splits the pixels, for example by the size of the object they belong
    to; an ignored pixel counts in an extra true class K that is dropped. No boolean indexing (about 5x
    slower on the CPU); 32-bit indices where the bins fit."""
    if pred.shape != target.shape or (groups is not None and groups.shape != target.shape):
        raise ValueError(f"prediction {tuple(pred.shape)}, target {tuple(target.shape)} and groups "
                         f"{None if groups is None else tuple(groups.shape)} differ in shape")
    k = num_classes
    bins = num_groups * (k + 1) * k
    dtype = torch.int32 if bins < 2**31 else torch.int64
    ignored = target == ignore_index
    true = target.to(dtype).masked_fill(ignored, 0)  # a new tensor: the target stays as it is
    if true.numel() and any(v < 0 or v >= k for v in map(int, torch.aminmax(true))):
        raise ValueError(f"target labels must be in [0, {k}) or {ignore_index}")
    true.masked_fill_(ignored, k)  # the extra true class of the ignored pixels
    index = true * k + pred.to(dtype)
    if groups is not None:
        index += groups.to(dtype) * ((k + 1) * k)
    counts = torch.bincount(index.reshape(-1), minlength=bins).view(num_groups, k + 1, k)
    return counts[:, :k].contiguous()


def metrics_from_matrix(mat: torch.Tensor) -> dict:
    """miou, per-class IoU (None where undefined), pixel accuracy, mean class accuracy, frequency-weighted IoU."""
    mat = mat.to(torch.float64)
    tp = mat.diag()
    gt = mat.sum(dim=1)  # pixels of each true class
    pred = mat.sum(dim=0)
    union = gt + pred - tp
    total = mat.sum()
    present = union > 0
    iou = torch.where(present, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    has_gt = gt > 0
    acc = torch.where(has_gt, tp / gt.clamp(min=1), torch.full_like(tp, float("nan")))
    freq = gt / total if total > 0 else gt
    return {
        "miou": _mean(iou[present]),
        "per_class_iou": [None if math.isnan(v) else v for v in iou.tolist()],
        "pixel_accuracy": float(tp.sum() / total) if total > 0 else float("nan"),
        "mean_class_accuracy": _mean(acc[has_gt]),
        "fw_iou": float((freq[present] * iou[present]).sum()) if total > 0 else float("nan"),
    }


def _mean(values: torch.Tensor) -> float:
    return float(values.mean()) if values.numel() else float("nan")
