"""Each reader on a tiny fixture in its real on-disk layout: shapes, dtypes, labels, ignore handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layouts import jpeg, make_ade, make_cityscapes, make_folder, make_voc, palette_png
from PIL import Image

from ksac_cli.config import DataConfig
from ksac_cli.data import BadSample, build_dataset, collate
from ksac_cli.data.classes import VOC_CLASSES
from ksac_cli.engine.loaders import checked
from ksac_cli.errors import KsacError


def load(dataset: str, root, split: str):
    return build_dataset(DataConfig(dataset=dataset, data_root=str(root)), split, train=False)


def test_voc_splits_labels_and_borders(tmp_path):
    root = make_voc(tmp_path)
    train, val = load("voc", root, "train"), load("voc", root, "val")
    assert (len(train), len(val), len(load("voc", root, "trainval"))) == (2, 1, 3)
    assert train.classes == VOC_CLASSES and train.num_classes == 21
    image, mask, sample_id = train[0]
    assert sample_id == "2007_000032"
    assert image.dtype == torch.float32 and image.shape == (3, 20, 24)
    assert mask.dtype == torch.int64 and mask.shape == (20, 24)
    assert set(mask.unique().tolist()) == {0, 15, 255}  # borders stay 255 (ignored)
    assert abs(float(image.mean())) < 2  # normalised


def test_voc_trainaug_reads_sbd_masks(tmp_path):
    aug = load("voc", make_voc(tmp_path), "trainaug")
    assert [s.id for s in aug.samples] == ["2007_000032", "2007_000039", "2008_000001"]
    assert all(s.mask.parent.name == "SegmentationClassAug" for s in aug.samples)
    assert set(aug[2][1].unique().tolist()) == {0, 15}


def test_ade20k_shifts_labels_and_ignores_other(tmp_path):
    ds = load("ade20k", make_ade(tmp_path), "training")
    assert ds.num_classes == 150 and len(ds) == 2
    _, mask, _ = ds[0]
    assert mask[:8].unique().tolist() == [0]  # 1 (wall) -> 0
    assert mask[8:, :9].unique().tolist() == [149]  # 150 (flag) -> 149
    assert mask[8:, 9:].unique().tolist() == [255]  # 0 (other) -> ignore
    assert len(load("ade20k", tmp_path, "val")) == 2  # alias


@pytest.mark.parametrize("train_ids", [True, False])
def test_cityscapes_train_ids_or_official_mapping(tmp_path, train_ids):
    ds = load("cityscapes", make_cityscapes(tmp_path, train_ids), "val")
    assert ds.num_classes == 19 and len(ds) == 2
    assert all(s.mask.name.endswith("labelTrainIds.png" if train_ids else "_labelIds.png") for s in ds.samples)
    _, mask, _ = ds[0]
    assert mask[1:, :16].unique().tolist() == [0]  # road
    assert mask[1:, 16:].unique().tolist() == [13]  # car
    assert mask[0].unique().tolist() == [255]


def test_folder_layout(tmp_path):
    root = make_folder(tmp_path)
    everything, val = load("folder", root, "train"), load("folder", root, "val")
    assert everything.classes == ["sky", "tree", "house"] and len(everything) == 3
    assert [s.id for s in val.samples] == ["img2"]
    _, mask, _ = val[0]
    assert set(mask.unique().tolist()) == {2, 255}


def test_missing_roots_and_splits_are_clear_errors(tmp_path):
    with pytest.raises(KsacError, match="no PASCAL VOC layout"):
        load("voc", tmp_path, "train")
    root = make_voc(tmp_path)
    with pytest.raises(KsacError, match=r"--split 'test': no list .*test\.txt; splits found there: train, train_aug"):
        load("voc", root, "test")
    (root / "VOCdevkit/VOC2012/ImageSets/Segmentation/empty.txt").write_text("\n")
    with pytest.raises(KsacError, match=r"split 'empty' is empty \(list .*empty\.txt\)"):
        load("voc", root, "empty")


def test_bad_samples_stop_with_the_file_or_are_counted(tmp_path):
    root = make_voc(tmp_path)
    voc = root / "VOCdevkit/VOC2012"
    (voc / "SegmentationClass/2007_000039.png").unlink()
    ds = load("voc", root, "train")
    assert ds[1] == BadSample(str(voc / "SegmentationClass/2007_000039.png"), "missing mask")
    batch = collate([ds[0], ds[1]])
    assert batch[0].shape[0] == 1 and len(batch[3]) == 1
    with pytest.raises(KsacError, match=r"bad sample .*2007_000039\.png: missing mask; .*--skip-bad"):
        list(checked(iter([batch]), skip_bad=False, skipped=[]))
    skipped: list = []
    assert len(list(checked(iter([batch]), skip_bad=True, skipped=skipped))) == 1
    assert len(skipped) == 1
    assert collate([ds[1]])[:3] == (None, None, [])


def test_training_transform_crops_pads_and_keeps_labels(tmp_path):
    ds = build_dataset(DataConfig(dataset="voc", data_root=str(make_voc(tmp_path)), crop_size=32), "train", train=True)
    torch.manual_seed(0)
    for _ in range(5):
        image, mask, _ = ds[0]
        assert image.shape == (3, 32, 32) and mask.shape == (32, 32)
        assert set(mask.unique().tolist()) <= {0, 15, 255}
    # a 20x24 image at scale <= 1 must be padded: the pad is ignore in the mask and the mean in the image
    torch.manual_seed(1)
    ds_small = build_dataset(DataConfig(dataset="voc", data_root=str(tmp_path), crop_size=64, scale_min=0.5,
                                        scale_max=0.5), "train", train=True)
    image, mask, _ = ds_small[0]  # 20x24 at scale 0.5 -> 10x12, padded to 64x64 at the right and bottom
    assert bool((mask[10:] == 255).all()) and bool((mask[:, 12:] == 255).all() or (mask[:, :52] == 255).all())
    assert float(image[:, 10:].abs().max()) < 0.03  # the pad is the mean colour: ~0 after normalisation
    assert (mask[:10] != 255).any()


def test_training_transform_keeps_image_and_mask_aligned(tmp_path):
    """The class is written in the image's colour; after random scale, pad, crop and flip (several seeds)
    the colour at every pixel away from a class boundary still names the mask's class there."""
    import torch.nn.functional as F

    from ksac_cli.data.transforms import MEAN, STD

    colours = {0: (30, 30, 30), 3: (230, 40, 40), 8: (40, 220, 60), 15: (60, 80, 235)}
    mask = np.zeros((45, 61), np.uint8)  # asymmetric quadrants: a flip of one but not the other shows
    mask[:20, 25:] = 3
    mask[20:, :40] = 8
    mask[30:, 40:] = 15
    image = np.zeros((45, 61, 3), np.uint8)
    for c, rgb in colours.items():
        image[mask == c] = rgb
    voc = tmp_path / "VOC2012"
    jpeg(Image.fromarray(image), voc / "JPEGImages" / "a.jpg")
    palette_png(mask, voc / "SegmentationClass" / "a.png")
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("a\n")
    ds = build_dataset(DataConfig(dataset="voc", data_root=str(voc), crop_size=48, scale_min=0.5, scale_max=2.0),
                       "train", train=True)
    table = torch.tensor([colours[c] for c in sorted(colours)], dtype=torch.float32)  # (4, 3)
    ids = torch.tensor(sorted(colours))
    for seed in range(12):
        torch.manual_seed(seed)
        x, m, _ = ds[0]
        rgb = (x * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)) * 255  # (3, H, W)
        nearest = ids[torch.cdist(rgb.permute(1, 2, 0).reshape(-1, 3), table).argmin(1)].view(m.shape)
        # pixels whose 5x5 neighbourhood holds one class (no boundary, no padding)
        mf = m.float()[None, None]
        same = (F.max_pool2d(mf, 5, 1, 2) == -F.max_pool2d(-mf, 5, 1, 2))[0, 0] & (m != 255)
        assert same.sum() > 100, seed
        assert torch.equal(nearest[same], m[same]), f"seed {seed}: image and mask disagree"
