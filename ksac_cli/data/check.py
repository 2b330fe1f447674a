"""`ksac data check`: read every sample of a split once; report counts, sizes, class pixel frequencies,
object sizes, and every problem with the file at fault."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ksac_cli.data.base import SampleProblem, SegmentationDataset, read_sample
from ksac_cli.data.objects import BUCKETS, bucket, object_sizes


def _check_one(args) -> dict:
    sample, num_classes, table, object_classes = args
    try:
        image, mask = read_sample(sample, num_classes, table)
    except SampleProblem as e:
        return {"problem": {"id": sample.id, "path": e.bad.path, "problem": e.bad.problem}}
    counts = np.bincount(mask.ravel(), minlength=256)
    return {"size": image.size, "pixels": counts[:num_classes].tolist(), "ignored": int(counts[255]),
            "objects": object_sizes(mask, object_classes)}


def check_dataset(dataset: SegmentationDataset, workers: int = 0, progress=None) -> dict:
    """The report as a JSON-ready dict: counts, image sizes, class pixel frequencies, objects per class
    and size bucket, and `problems` ([{id, path, problem}])."""
    jobs = [(s, dataset.num_classes, dataset.table, set(dataset.object_classes)) for s in dataset.samples]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_check_one, jobs, chunksize=16))
    else:
        results = []
        for job in jobs:
            results.append(_check_one(job))
            if progress:
                progress(1)
    problems = [r["problem"] for r in results if "problem" in r]
    good = [r for r in results if "problem" not in r]
    pixels = np.sum([r["pixels"] for r in good], axis=0) if good else np.zeros(dataset.num_classes)
    labelled = float(pixels.sum()) or 1.0
    objects: dict[str, Counter] = {c: Counter() for c in dataset.classes}
    for r in good:
        for c, area in r["objects"]:
            objects[dataset.classes[c]][bucket(area)] += 1
    sizes = Counter(f"{w}x{h}" for r in good for w, h in [r["size"]])
    return {
        "dataset": dataset.name, "split": dataset.split, "samples": len(dataset.samples), "readable": len(good),
        "classes": dataset.classes,
        "image_sizes": dict(sizes.most_common(10)),
        "class_pixel_frequency": {c: float(p) / labelled for c, p in zip(dataset.classes, pixels)},
        "ignored_pixels": int(sum(r["ignored"] for r in good)),
        "objects": {c: {b: objects[c][b] for b in BUCKETS} for c in dataset.classes
                    if dataset.classes.index(c) in dataset.object_classes},
        "problems": problems,
    }
