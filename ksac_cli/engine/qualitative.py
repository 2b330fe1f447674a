"""Qualitative samples: a fixed handful of val images with their ground truth and this model's prediction,
written to `<run_dir>/samples/` so `ksac report` can put ASPP's and KSAC's predictions side by side. The
choice (`choose_samples`) is a pure function of the image ids and the ground truth, never of a prediction or a
seed, so every run on the same dataset picks the same images."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ksac_cli import io
from ksac_cli.engine.evaluate import SIZE_BUCKETS, eval_mode, labels, predict
from ksac_cli.engine.predictions import denormalised, encode, full_palette, palette_png

PER_BUCKET = 2  # images preferred per size bucket: 2 with small, 2 with medium, 2 with large objects
ANY = "any"  # the bucket of an image that fills a place no bucket could fill
FILES = ("image.jpg", "truth.png", "pred.png")  # <stem>_<file> per sample


def buckets_present(per_image: list) -> tuple[list[str], np.ndarray]:
    """(ids, (N, len(SIZE_BUCKETS)) bool): which images hold ground-truth object pixels of each size,
    read off the per-image matrices' rows (a row sum counts truth pixels whatever was predicted)."""
    ids = [sample_id for sample_id, _ in per_image]
    present = np.array([[m[g].sum() > 0 for g in range(1, 1 + len(SIZE_BUCKETS))] for _, m in per_image],
                       dtype=bool).reshape(len(ids), len(SIZE_BUCKETS))
    return ids, present


def choose_samples(ids: list[str], present: np.ndarray, per_bucket: int = PER_BUCKET,
                   seed: int = 0) -> list[tuple[str, str]]:
    """Up to `per_bucket * len(SIZE_BUCKETS)` [(id, bucket)]: for each size bucket in turn, `per_bucket`
    images drawn among those with objects of that size and not yet chosen; places left empty are filled
    with other images (bucket "any"). Ids are sorted first and the draws come from
    `numpy.random.default_rng(seed)`, so the input order never matters."""
    if not ids:
        return []
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    present = np.asarray(present, dtype=bool).reshape(len(ids), len(SIZE_BUCKETS))[order]
    ids = [ids[i] for i in order]
    rng = np.random.default_rng(seed)
    taken: set[int] = set()
    chosen: list[tuple[str, str]] = []
    for b, bucket in enumerate(SIZE_BUCKETS):
        candidates = [i for i in range(len(ids)) if present[i, b] and i not in taken]
        for i in _draw(rng, candidates, per_bucket):
            taken.add(i)
            chosen.append((ids[i], bucket))
    rest = [i for i in range(len(ids)) if i not in taken]
    chosen += [(ids[i], ANY) for i in _draw(rng, rest, per_bucket * len(SIZE_BUCKETS) - len(chosen))]
    return chosen


def _draw(rng: np.random.Generator, candidates: list[int], count: int) -> list[int]:
    if count <= 0 or not candidates:
        return []
    picks = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)
    return [candidates[int(p)] for p in sorted(picks)]


def file_stem(sample_id: str) -> str:
    """The id as a file name: characters other than letters, digits, '.', '_' and '-' become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", sample_id)


@torch.inference_mode()
def write_samples(folder: Path, chosen: list[tuple[str, str]], model, dataset, device: torch.device,
                  scales=(1.0,), flip: bool = False, amp: str = "off", iteration: int | None = None) -> None:
    """Predict the chosen images one at a time (evaluation transform, the evaluation's scales and flip) and
    write `<stem>_image.jpg`, `<stem>_truth.png`, `<stem>_pred.png` and `index.json` into `folder`; files
    of images no longer chosen are removed."""
    from ksac_cli.data.transforms import MEAN, STD

    folder = Path(folder)
    palette = full_palette(dataset.palette)
    index_of = {s.id: i for i, s in enumerate(dataset.samples)}
    entries = []
    with eval_mode(model):
        for sample_id, bucket in chosen:
            item = dataset[index_of[sample_id]]
            if not isinstance(item, tuple):  # a BadSample: the file went bad since it was evaluated
                continue
            image, mask, _ = item
            pred = labels(predict(model, image[None].to(device), scales, flip, amp))[0]  # (H, W)
            stem = file_stem(sample_id)
            rgb = Image.fromarray(denormalised(image, MEAN, STD))
            io.write_bytes(folder / f"{stem}_image.jpg", encode(rgb, "JPEG", quality=92))
            io.write_bytes(folder / f"{stem}_truth.png", palette_png(mask.numpy(), palette))
            io.write_bytes(folder / f"{stem}_pred.png", palette_png(pred.cpu().numpy(), palette))
            entries.append({"id": sample_id, "bucket": bucket, **{f.split(".")[0]: f"{stem}_{f}" for f in FILES}})
    k = len(dataset.classes)
    io.write_json(folder / "index.json", {
        "ids": [e["id"] for e in entries], "iteration": iteration, "classes": list(dataset.classes),
        "palette": palette[:k].tolist(), "ignore_colour": palette[255].tolist(), "samples": entries})
    keep = {name for e in entries for name in (e["image"], e["truth"], e["pred"])}
    for path in folder.iterdir():
        if path.name.endswith(tuple(f"_{f}" for f in FILES)) and path.name not in keep:
            path.unlink(missing_ok=True)
