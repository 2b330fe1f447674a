"""The object-size maps of an evaluation are computed once per mask and kept beside the masks
(`SegmentationClass/.size_maps/`): read back on the next evaluation, computed again when a mask changes,
never written into a dataset that cannot be written, and the metrics are the same with or without them."""

from __future__ import annotations

import json
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from layouts import jpeg, palette_png, rgb

from ksac_cli.config import DataConfig, ModelConfig
from ksac_cli.data import build_dataset
from ksac_cli.data import objects
from ksac_cli.data.objects import CACHE_FOLDER, SizeMapCache, object_size_map
from ksac_cli.engine.evaluate import evaluate, metrics_record
from ksac_cli.engine.loaders import checked, eval_loader
from ksac_cli.models import build_model

OBJECT_CLASSES = [c for c in range(1, 21)]  # VOC: every class but background


def fixture_masks() -> dict[str, np.ndarray]:
    """Masks of several sizes (odd sides, portrait and landscape, two of one size) with small, medium and
    large objects of a few VOC classes (most classes absent), VOC-style 255 borders."""
    masks = {}
    m = np.zeros((131, 151), np.uint8)
    m[2:120, 3:100] = 15  # large person (118 x 97 px)
    m[1, 3:100] = 255
    m[125:130, 140:148] = 8  # small cat
    masks["2008_000001"] = m
    m = np.zeros((97, 120), np.uint8)
    m[10:60, 10:60] = 12  # medium dog
    m[70:75, 100:110] = 12  # small dog: a second component of the same class
    m[80:90, 20:30] = 1  # small aeroplane
    masks["2008_000002"] = m
    m = np.zeros((97, 120), np.uint8)  # the same size as the one before, other content
    m[5:90, 5:115] = 1  # large aeroplane
    m[40:45, 40:45] = 255
    masks["2008_000003"] = m
    m = np.zeros((33, 45), np.uint8)  # only background and ignored pixels
    m[0] = 255
    masks["2008_000004"] = m
    m = np.zeros((150, 101), np.uint8)
    m[0:40, 0:40] = 8  # medium cat touching a large person of another class
    m[40:150, 0:101] = 15
    masks["2008_000005"] = m
    return masks


def make_dataset(root: Path) -> Path:
    voc = root / "VOCdevkit" / "VOC2012"
    masks = fixture_masks()
    for i, (name, m) in enumerate(masks.items()):
        jpeg(rgb(*m.shape, seed=i), voc / "JPEGImages" / f"{name}.jpg")
        palette_png(m, voc / "SegmentationClass" / f"{name}.png")
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(masks) + "\n")
    return voc


def load(root: Path):
    return build_dataset(DataConfig(dataset="voc", data_root=str(root)), "val", train=False)


@pytest.fixture
def counted(monkeypatch) -> list:
    """Every call of `object_size_map` the cache makes (the loader runs in this process: workers 0)."""
    calls: list = []
    real = objects.object_size_map

    def counting(mask, classes):
        calls.append(mask.shape)
        return real(mask, classes)

    monkeypatch.setattr(objects, "object_size_map", counting)
    return calls


def size_maps(dataset, cache_sizes: bool = True) -> dict[str, np.ndarray]:
    """id -> the size map its evaluation batch carries."""
    out = {}
    for batch in eval_loader(dataset, batch_size=2, workers=0, cache_sizes=cache_sizes):
        for sample_id, sizes in zip(batch.ids, batch.sizes):
            out[sample_id] = sizes.numpy()
    return out


def run_eval(dataset, cache_sizes: bool = True):
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="mobilenetv2_035", rates=(1, 2), channels=8, decoder_channels=8,
                                    num_classes=dataset.num_classes)).eval()
    batches = checked(iter(eval_loader(dataset, 2, 0, cache_sizes=cache_sizes)), skip_bad=False, skipped=[])
    return evaluate(model, batches, dataset.num_classes, torch.device("cpu"))


def test_the_second_evaluation_reads_every_map_from_disk(tmp_path, counted):
    voc = make_dataset(tmp_path)
    dataset = load(tmp_path)
    first = size_maps(dataset)
    assert len(counted) == len(dataset) == 5  # every mask differs: one map each
    files = sorted((voc / "SegmentationClass" / CACHE_FOLDER).iterdir())
    assert len(files) == 5 and all(f.suffix == ".zlib" for f in files)
    counted.clear()
    second = size_maps(load(tmp_path))
    assert counted == []  # nothing computed again
    for sample_id, m in fixture_masks().items():
        assert np.array_equal(first[sample_id], object_size_map(m, OBJECT_CLASSES))
        assert np.array_equal(second[sample_id], first[sample_id])


def test_a_rewritten_mask_gets_its_map_computed_again(tmp_path, counted):
    voc = make_dataset(tmp_path)
    before = size_maps(load(tmp_path))
    path = voc / "SegmentationClass" / "2008_000002.png"
    stat = path.stat()
    changed = fixture_masks()["2008_000002"]
    changed[10:100, 10:115] = 12  # the medium dog becomes large
    palette_png(changed, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same times: only the content says it changed
    counted.clear()
    after = size_maps(load(tmp_path))
    assert len(counted) == 1
    assert np.array_equal(after["2008_000002"], object_size_map(changed, OBJECT_CLASSES))
    assert not np.array_equal(after["2008_000002"], before["2008_000002"])
    assert all(np.array_equal(after[i], before[i]) for i in before if i != "2008_000002")


def test_a_damaged_map_file_is_computed_again(tmp_path, counted):
    voc = make_dataset(tmp_path)
    size_maps(load(tmp_path))
    files = sorted((voc / "SegmentationClass" / CACHE_FOLDER).iterdir())
    files[0].write_bytes(b"not zlib")
    files[1].write_bytes(zlib.compress(b"\x01" * 7))  # decompresses to the wrong size
    counted.clear()
    maps = size_maps(load(tmp_path))
    assert len(counted) == 2
    for sample_id, m in fixture_masks().items():
        assert np.array_equal(maps[sample_id], object_size_map(m, OBJECT_CLASSES))


def test_metrics_and_per_size_iou_are_the_same_with_and_without_the_cache(tmp_path):
    make_dataset(tmp_path)
    dataset = load(tmp_path)
    plain = run_eval(dataset, cache_sizes=False)
    cold = run_eval(dataset)  # computes and writes the maps
    warm = run_eval(load(tmp_path))  # reads them
    reference = metrics_record(plain.metrics(), dataset.classes)
    assert all(v == v for v in reference["size_iou"].values())  # every bucket has objects: the test means something
    for result in (cold, warm):
        assert json.dumps(metrics_record(result.metrics(), dataset.classes)) == json.dumps(reference)
        assert [i for i, _ in result.per_image] == [i for i, _ in plain.per_image]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(result.per_image, plain.per_image))


def make_unwritable(folder: Path) -> None:
    """Every folder of the dataset read-only. Root ignores permissions: for root the cache's folder is
    also taken by a file, so nothing can be written there either."""
    if os.geteuid() == 0:
        (folder / "SegmentationClass" / CACHE_FOLDER).write_bytes(b"")
    for d in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        d.chmod(0o555)


def test_a_read_only_dataset_still_evaluates_and_is_left_as_it_was(tmp_path, counted):
    voc = make_dataset(tmp_path)
    reference = run_eval(load(tmp_path), cache_sizes=False)
    make_unwritable(voc)
    try:
        listing = sorted(p for p in tmp_path.rglob("*"))
        counted.clear()
        result = run_eval(load(tmp_path))
        assert len(counted) == 5  # computed in memory
        assert sorted(p for p in tmp_path.rglob("*")) == listing  # nothing written into the dataset
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(result.per_image, reference.per_image))
        assert result.metrics()["size_iou"] == reference.metrics()["size_iou"]
    finally:
        for d in [voc, *(p for p in voc.rglob("*") if p.is_dir())]:
            d.chmod(0o755)


def _fill(args) -> list[str]:
    folder, masks = args
    cache = SizeMapCache(folder)
    return [objects.size_map_key(m, OBJECT_CLASSES) for m in masks if cache(m, OBJECT_CLASSES) is not None]


def test_evaluations_filling_one_cache_at_once_leave_only_whole_maps(tmp_path):
    masks = list(fixture_masks().values()) * 4
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_fill, [(tmp_path, masks)] * 4))
    files = sorted(tmp_path.iterdir())
    assert len(files) == 5 and not [f for f in files if f.name.endswith(".tmp")]
    for m in fixture_masks().values():
        stored = SizeMapCache.read(tmp_path / f"{objects.size_map_key(m, OBJECT_CLASSES)}.zlib", m.shape)
        assert np.array_equal(stored, object_size_map(m, OBJECT_CLASSES))


def test_the_key_is_the_content_of_the_labels_whatever_their_dtype(tmp_path, counted):
    """The evaluation hands the cache int64 masks (after the transform); the same labels as uint8 are the
    same map, other labels or other object classes another one."""
    mask = fixture_masks()["2008_000002"]
    cache = SizeMapCache(tmp_path)
    assert np.array_equal(cache(mask.astype(np.int64), OBJECT_CLASSES), object_size_map(mask, OBJECT_CLASSES))
    assert np.array_equal(cache(mask, OBJECT_CLASSES), object_size_map(mask, OBJECT_CLASSES))
    assert len(counted) == 1
    other = mask.copy()
    other[0, 0] = 1
    cache(other, OBJECT_CLASSES)
    cache(mask, OBJECT_CLASSES[1:])
    assert len(counted) == 3 and len(list(tmp_path.iterdir())) == 3


def test_the_maps_go_into_the_folder_holding_every_mask():
    from types import SimpleNamespace

    from ksac_cli.data.base import Sample
    from ksac_cli.data.objects import cache_folder

    def of(*masks: str):
        return SimpleNamespace(samples=[Sample(Path(m).stem, Path("/img.jpg"), Path(m)) for m in masks])

    assert cache_folder(of("/d/SegmentationClass/a.png", "/d/SegmentationClass/b.png")) == \
        Path("/d/SegmentationClass") / CACHE_FOLDER
    assert cache_folder(of("/c/gtFine/val/aachen/x.png", "/c/gtFine/val/bremen/y.png")) == \
        Path("/c/gtFine/val") / CACHE_FOLDER  # Cityscapes: one folder per city
    assert cache_folder(of("/a/m.png", "/b/m.png")) is None  # nothing in common but /
    assert cache_folder(SimpleNamespace()) is None
