"""The transforms against the torchvision v2 pipeline they replaced (kept here as the reference): the same
draws from the same seed give the same crops bit for bit, and `normalise` gives v2's floats to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ksac_cli.conventions import IGNORE_INDEX
from ksac_cli.data import Uint8Items, collate
from ksac_cli.data.transforms import MEAN, MEAN_UINT8, STD, eval_transform, normalise, train_transform


class ReferenceRescale(v2.Transform):
    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high

    def make_params(self, flat_inputs):
        h, w = v2.query_size(flat_inputs)
        scale = self.low + (self.high - self.low) * float(torch.rand(()))
        return {"size": [max(1, round(h * scale)), max(1, round(w * scale))]}

    def transform(self, inpt, params):
        if isinstance(inpt, tv_tensors.Mask):
            return TF.resize(inpt, params["size"], interpolation=v2.InterpolationMode.NEAREST)
        return TF.resize(inpt, params["size"], interpolation=v2.InterpolationMode.BILINEAR, antialias=True)


class ReferencePad(v2.Transform):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def make_params(self, flat_inputs):
        h, w = v2.query_size(flat_inputs)
        return {"padding": [0, 0, max(0, self.size - w), max(0, self.size - h)]}

    def transform(self, inpt, params):
        if not any(params["padding"]):
            return inpt
        fill = IGNORE_INDEX if isinstance(inpt, tv_tensors.Mask) else list(MEAN_UINT8)
        return TF.pad(inpt, params["padding"], fill=fill)


def reference(image: Image.Image, mask: np.ndarray, transforms: list):
    """The v2 pipeline the toolkit used: geometry on tv_tensors, then ToDtype(scale) and Normalize."""
    img = tv_tensors.Image(TF.pil_to_tensor(image))
    msk = tv_tensors.Mask(torch.from_numpy(np.array(mask, dtype=np.uint8)))
    if transforms:
        img, msk = v2.Compose(transforms)(img, msk)
    img = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])(img)
    return img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor).to(torch.int64)


def sample(h: int, w: int, seed: int) -> tuple[Image.Image, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)),
            rng.integers(0, 6, (h, w), dtype=np.uint8))


@pytest.mark.parametrize("h, w, crop, low, high", [(256, 256, 256, 0.75, 1.5), (45, 61, 48, 0.5, 2.0),
                                                   (20, 24, 64, 0.5, 0.5), (300, 200, 128, 0.5, 2.0)])
def test_augmentation_is_the_v2_pipeline_bit_for_bit(h, w, crop, low, high):
    image, mask = sample(h, w, h * w)
    ours = train_transform(crop, low, high)
    ref = [ReferenceRescale(low, high), ReferencePad(crop), v2.RandomCrop(crop), v2.RandomHorizontalFlip()]
    for seed in range(12):
        torch.manual_seed(seed)
        expected = reference(image, mask, ref)
        for pixels in (image, np.asarray(image)):  # a PIL image, and the (H, W, 3) array of the decoded store
            torch.manual_seed(seed)
            got = ours(pixels, mask)
            assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1]), seed
            assert got[0].dtype == torch.float32 and got[1].dtype == torch.int64


@pytest.mark.parametrize("factor", [0.5, 1.0, 1.75])
def test_evaluation_transform_is_the_v2_pipeline_bit_for_bit(factor):
    image, mask = sample(30, 41, 1)
    size = [max(1, round(30 * factor)), max(1, round(41 * factor))]
    expected = reference(image, mask, [ReferenceRescale(factor, factor)] if factor != 1.0 else [])
    got = eval_transform(factor)(np.asarray(image), mask)
    assert list(got[1].shape) == size
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_normalise_equals_v2_to_the_bit():
    images = torch.randint(0, 256, (4, 3, 17, 9), dtype=torch.uint8)
    expected = v2.Normalize(MEAN, STD)(v2.ToDtype(torch.float32, scale=True)(images))
    assert torch.equal(normalise(images), expected)
    assert torch.equal(normalise(images[0]), expected[0])


def test_loader_items_are_uint8_and_collate_normalises_them_as_the_dataset_does(tmp_path):
    from ksac_cli.config import DataConfig
    from ksac_cli.data import build_dataset
    from layouts import make_voc

    ds = build_dataset(DataConfig(dataset="voc", data_root=str(make_voc(tmp_path)), crop_size=32), "train", train=True)
    raw = Uint8Items(ds)
    assert len(raw) == len(ds) and raw.num_classes == ds.num_classes
    items = []
    for i in range(2):
        torch.manual_seed(i)
        items.append(raw[i])
        assert items[-1][0].dtype == torch.uint8 and items[-1][1].dtype == torch.uint8
    batch = collate(items)
    for i in range(2):
        torch.manual_seed(i)
        image, mask, sample_id = ds[i]
        assert torch.equal(batch.images[i], image) and torch.equal(batch.masks[i], mask) and batch.ids[i] == sample_id
