"""Evaluation: (multi-scale, flipped) inference and one confusion matrix over the whole split,
plus one per object-size bucket (pixels of ground-truth objects of that size only), plus the same per
image (the evidence `ksac report` resamples: engine/evidence.py writes it as eval_images.npz)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ksac_cli import signals
from ksac_cli.conventions import SIZE_BUCKETS
from ksac_cli.engine.metrics import ConfusionMatrix, confusion_counts

GROUPS = ("none", *SIZE_BUCKETS)  # per-pixel size groups: 0 = no object, then 1 + index in SIZE_BUCKETS
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # the --amp modes other than off


def autocast(device: torch.device, amp: str):
    """The autocast context of an --amp mode (off: none)."""
    if amp == "off":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[amp])


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """`model` in eval mode within the block, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def predict(model: nn.Module, images: torch.Tensor, scales: Iterable[float] = (1.0,), flip: bool = False,
            amp: str = "off") -> torch.Tensor:
    """Class scores (B, K, H, W) for images (B, 3, H, W): softmax probabilities summed over scales (and
    horizontal flips), each resized back to H x W. With one scale of 1.0 and no flip the argmax equals
    the plain forward pass's."""
    scales = tuple(scales)
    if scales == (1.0,) and not flip:  # one pass: its logits, no softmax (the argmax is the same)
        with autocast(images.device, amp):
            return model(images).float()
    size = images.shape[-2:]
    total = None
    for scale in scales:
        x = images if scale == 1.0 else F.interpolate(images, scale_factor=scale, mode="bilinear",
                                                       align_corners=False)
        for flipped in ((False, True) if flip else (False,)):
            inp = x.flip(-1) if flipped else x
            with autocast(images.device, amp):
                logits = model(inp).float()
            if flipped:
                logits = logits.flip(-1)
            if logits.shape[-2:] != size:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            probs = logits.softmax(dim=1)
            total = probs if total is None else total + probs
    return total


def labels(scores: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) scores -> (B, H, W) class indices, the first best on ties like argmax. `max(dim)` and
    not `argmax(dim)`: on the CPU argmax over the channel dim of an NCHW tensor is about 10x slower."""
    return scores.max(dim=1).indices


@dataclass
class EvalResult:
    confusion: ConfusionMatrix
    by_size: dict[str, ConfusionMatrix]
    images: int = 0
    bad: list = field(default_factory=list)
    # [(id, (len(GROUPS), K, K) int32 numpy [group, true, predicted])] of this process's images, in the
    # order evaluated; summed over images and groups it is `confusion`, over images at 1 + i `by_size`
    per_image: list = field(default_factory=list)

    def metrics(self) -> dict:
        out = self.confusion.compute()
        out["size_iou"] = {b: object_miou(self.by_size[b]) for b in SIZE_BUCKETS}
        return out


def object_miou(confusion: ConfusionMatrix) -> float:
    """Mean IoU over the classes that have ground-truth pixels in a size bucket's matrix (only object
    pixels are in it, so a class that is merely predicted there, such as background, is left out)."""
    per_class = confusion.compute()["per_class_iou"]
    truth = confusion.mat.sum(dim=1) > 0
    values = [iou for iou, present in zip(per_class, truth.tolist()) if present and iou is not None]
    return sum(values) / len(values) if values else float("nan")


@torch.inference_mode()
def evaluate(model: nn.Module, batches: Iterable, num_classes: int, device: torch.device,
             scales: Iterable[float] = (1.0,), flip: bool = False, amp: str = "off",
             on_batch: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, list], None] | None = None) -> EvalResult:
    """`batches` yields `Batch`es (images, masks, ids, bad, sizes) as `ksac_cli.data.collate` makes them;
    `sizes`, the object-size map (0: no object, 1 + index in SIZE_BUCKETS), fills the per-size matrices
    when present (without it every pixel is in group 0). `on_batch(images, masks, predictions, ids)` sees
    every batch (saving predictions, progress)."""
    result = EvalResult(ConfusionMatrix(num_classes, device=device),
                        {b: ConfusionMatrix(num_classes, device=device) for b in SIZE_BUCKETS})
    with eval_mode(model):
        for images, masks, ids, bad, sizes in batches:
            signals.check()  # a signal received during training's evaluation stops it here (ksac_cli/signals.py)
            result.bad.extend(bad)
            if images is None:
                continue
            images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
            pred = labels(predict(model, images, scales, flip, amp))  # (B, H, W)
            counts = per_image_counts(pred, masks, sizes, num_classes)  # (B, G, K, K)
            result.confusion.mat += counts.sum(dim=(0, 1))
            for i, bucket in enumerate(SIZE_BUCKETS, start=1):
                result.by_size[bucket].mat += counts[:, i].sum(dim=0)
            result.per_image.extend(zip(ids, counts.to("cpu", torch.int32).numpy()))
            result.images += images.shape[0]
            if on_batch is not None:
                on_batch(images, masks, pred, ids)
    return result


def per_image_counts(pred: torch.Tensor, masks: torch.Tensor, sizes: torch.Tensor | None,
                     num_classes: int) -> torch.Tensor:
    """(B, len(GROUPS), K, K) pixel counts [image, size group, true, predicted] of a batch, in ONE
    bincount (`confusion_counts`): the group of a pixel is its image's index * len(GROUPS) + its size group
    (255 ignored)."""
    b = pred.shape[0]
    image = torch.arange(b, device=pred.device).view(b, 1, 1) * len(GROUPS)  # (B, 1, 1)
    groups = image + (0 if sizes is None else sizes.to(pred.device, torch.int64))  # (B, H, W)
    counts = confusion_counts(pred, masks, num_classes, groups=groups.expand_as(pred),
                              num_groups=b * len(GROUPS))
    return counts.view(b, len(GROUPS), num_classes, num_classes)


def evaluate_split(model: nn.Module, loader, dataset, device: torch.device, cfg, bad: list, dist=None,
                   on_batch=None) -> EvalResult:
    """Evaluate `model` on a (sharded) loader with `cfg.eval`'s scales and flip and `cfg.train.amp`; bad
    samples stop it or, with `cfg.data.skip_bad`, are appended to `bad`. Confusion matrices are summed
    across ranks."""
    from ksac_cli.engine.loaders import checked

    batches = checked(iter(loader), cfg.data.skip_bad, bad)
    result = evaluate(model, batches, dataset.num_classes, device,
                      scales=cfg.eval.scales, flip=cfg.eval.flip, amp=cfg.train.amp, on_batch=on_batch)
    if dist is not None and dist.active:
        for cm in [result.confusion, *result.by_size.values()]:
            dist.sum_(cm.mat)
    return result


def metrics_record(metrics: dict, classes: list[str]) -> dict:
    """The eval.json / eval.jsonl record: per-class IoU keyed by class name; undefined values (NaN) as null."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return None if isinstance(value, float) and value != value else value

    return clean({**metrics, "per_class_iou": dict(zip(classes, metrics["per_class_iou"]))})
