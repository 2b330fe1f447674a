"""The loaders' data path (uint8 items, normalised a batch at a time in collate): a worker process gives the
batches the main process gives, bit for bit, for training (seeded augmentation) and evaluation (size maps)."""

from __future__ import annotations

import itertools

import torch
from layouts import make_voc

from ksac_cli.config import DataConfig
from ksac_cli.data import build_dataset
from ksac_cli.engine.loaders import eval_loader, train_loader


def test_a_worker_gives_the_batches_the_main_process_gives(tmp_path):
    cfg = DataConfig(dataset="voc", data_root=str(make_voc(tmp_path)), crop_size=16)
    train = build_dataset(cfg, "train", train=True)
    batches = [list(itertools.islice(train_loader(train, 2, workers, seed=3, samples_seen=2), 3)) for workers in (0, 1)]
    for a, b in zip(*batches):
        assert a.images.dtype == torch.float32 and a.masks.dtype == torch.int64 and a.images.shape == (2, 3, 16, 16)
        assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and a.ids == b.ids
    val = build_dataset(cfg, "val", train=False)
    evaluated = [list(eval_loader(val, 2, workers, cache_sizes=False)) for workers in (0, 1)]
    assert sum(len(b.ids) for b in evaluated[0]) == len(val)
    for a, b in zip(*evaluated):
        assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and torch.equal(a.sizes, b.sizes)
        image, mask, _ = val[[s.id for s in val.samples].index(a.ids[0])]
        assert torch.equal(a.images[0], image) and torch.equal(a.masks[0], mask)
