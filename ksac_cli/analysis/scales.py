"""Scale robustness: the val split with every image AND its mask rescaled by one factor (image bilinear,
mask nearest), single-scale inference at each factor. At factor 1.0 it is exactly `ksac eval`'s evaluation.
Object-size buckets are those of the rescaled masks: the sizes the model sees."""

from __future__ import annotations

import torch
from torch import nn

from ksac_cli.config import RunConfig
from ksac_cli.engine.evaluate import SIZE_BUCKETS, evaluate


def at_scale(model: nn.Module, cfg: RunConfig, factor: float, device: torch.device, images: int | None = None) -> dict:
    """{"scale", "miou", "iou_small", "iou_medium", "iou_large", "images"} (fractions; a bucket without objects at
    this scale is NaN) on `cfg`'s val split rescaled by `factor`, over its first `images` images (None: all), with
    the run's amp and batch size."""
    from ksac_cli.data import build_dataset
    from ksac_cli.engine.loaders import checked, eval_loader

    dataset = build_dataset(cfg.data, cfg.data.val_split, train=False, eval_scale=factor, images=images)
    batches = checked(iter(eval_loader(dataset, cfg.eval.batch_size, workers=0)), skip_bad=False, skipped=[])
    result = evaluate(model, batches, dataset.num_classes, device, amp=cfg.train.amp)
    metrics = result.metrics()
    return {"scale": factor, "miou": metrics["miou"], **{f"iou_{b}": metrics["size_iou"][b] for b in SIZE_BUCKETS},
            "images": result.images}
