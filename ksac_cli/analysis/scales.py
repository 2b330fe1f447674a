"""Scale robustness: the val split with every image AND its mask rescaled by one factor (image bilinear,
mask nearest), single-scale inference at each factor. At factor 1.0 it is exactly `ksac eval`'s evaluation.
Object-size buckets are those of the rescaled masks: the sizes the model sees."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from ksac_cli.config import DataConfig
from ksac_cli.engine.evaluate import SIZE_BUCKETS, evaluate

def scale_sweep(model: nn.Module, data: DataConfig, split: str, factors: Iterable[float], device: torch.device,
                amp: str = "off", batch_size: int = 8, workers: int = 0, images: int | None = None,
                on_factor: Callable[[float], None] | None = None) -> list[dict]:
    """[{"scale", "miou", "iou_small", "iou_medium", "iou_large", "images"}] per factor (fractions; a
    bucket without objects at that scale is NaN), over the split's first `images` images (None: all)."""
    from ksac_cli.data import build_dataset
    from ksac_cli.engine.loaders import checked, eval_loader

    rows = []
    for factor in factors:
        dataset = build_dataset(data, split, train=False, eval_scale=factor, images=images)
        batches = checked(iter(eval_loader(dataset, batch_size, workers)), skip_bad=False, skipped=[])
        result = evaluate(model, batches, dataset.num_classes, device, amp=amp)
        metrics = result.metrics()
        rows.append({"scale": factor, "miou": metrics["miou"],
                     **{f"iou_{b}": metrics["size_iou"][b] for b in SIZE_BUCKETS}, "images": result.images})
        if on_factor is not None:
            on_factor(factor)
    return rows
