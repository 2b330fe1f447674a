"""`Augment` copies only the crop out of the rescaled image and gathers the mask's crop from its nearest
sources; here against torchvision v2's functional ops on the WHOLE image and mask (rescale, pad, crop,
flip) with Augment's draws, over more sizes, crops and scales than test_transforms' v2 pipeline cases:
downscaling and upscaling, exactly 2x (nearest's own branch), scale 1 (no resize), padding at one side or
both, one-row images, images in (3, H, W) and in (H, W, 3) memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ksac_cli.conventions import IGNORE_INDEX
from ksac_cli.data.transforms import MEAN_UINT8, Augment, nearest_sources


def whole(image: torch.Tensor, mask: torch.Tensor, crop: int, low: float, high: float):
    """Augment's draws, in its order; then the whole image and mask rescaled, padded, cropped, flipped.
    (image, mask, whether flipped)."""
    h, w = image.shape[-2:]
    scale = low + (high - low) * float(torch.rand(()))
    size = [max(1, round(h * scale)), max(1, round(w * scale))]
    top = int(torch.randint(0, size[0] - crop + 1, size=())) if size[0] > crop else 0
    left = int(torch.randint(0, size[1] - crop + 1, size=())) if size[1] > crop else 0
    flip = bool(torch.rand(1) < 0.5)
    image = TF.resize(image, size, interpolation=v2.InterpolationMode.BILINEAR, antialias=True)
    mask = TF.resize(mask[None], size, interpolation=v2.InterpolationMode.NEAREST)
    padding = [0, 0, max(0, crop - size[1]), max(0, crop - size[0])]  # left, top, right, bottom
    if any(padding):
        image, mask = TF.pad(image, padding, fill=list(MEAN_UINT8)), TF.pad(mask, padding, fill=IGNORE_INDEX)
    image, mask = TF.crop(image, top, left, crop, crop), TF.crop(mask, top, left, crop, crop)[0]
    return (TF.horizontal_flip(image), TF.horizontal_flip(mask), flip) if flip else (image, mask, flip)


@pytest.mark.parametrize("h, w, crop, low, high", [
    (256, 256, 256, 0.75, 1.5),  # the quick recipe
    (37, 53, 32, 0.25, 3.0),  # padded at the bottom, the right, both or neither
    (16, 24, 40, 2.0, 2.0),  # exactly 2x: padded on both sides
    (50, 30, 64, 1.0, 1.0),  # not rescaled: padded
    (1, 7, 4, 0.5, 4.0),  # one row
    (300, 200, 128, 0.5, 2.0),
])
def test_the_crop_is_the_whole_rescaled_image_padded_cropped_and_flipped(h, w, crop, low, high):
    rng = np.random.default_rng(h * w + crop)
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = torch.from_numpy(rng.integers(0, 21, (h, w), dtype=np.uint8))
    for image in (torch.from_numpy(pixels).permute(2, 0, 1), torch.from_numpy(pixels).permute(2, 0, 1).contiguous()):
        flips = 0
        for seed in range(40):
            torch.manual_seed(seed)
            expected = whole(image, mask, crop, low, high)
            flips += expected[2]
            torch.manual_seed(seed)
            got = Augment(crop, low, high)(image, mask)
            assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1]), seed
            assert got[0].shape == (3, crop, crop) and got[1].shape == (crop, crop)
        assert 0 < flips < 40  # both ways seen


@pytest.mark.parametrize("length", [1, 2, 7, 45, 256])
def test_a_masks_nearest_resize_is_its_gather_from_the_sources_of_each_axis(length):
    """The separability `Augment` relies on: a whole (H, W) mask resized by torch is mask[rows][:, cols]."""
    rng = np.random.default_rng(length)
    for other in (1, 3, 64):
        mask = rng.integers(0, 256, (length, other), dtype=np.uint8)
        sizes = {1, 3, length, 2 * length, max(1, round(length * 0.75)), round(length * 1.37) + 1, 5 * length}
        for size in sorted(sizes):
            for size_other in (1, other, 2 * other, round(other * 1.6) + 1):
                resized = TF.resize(torch.from_numpy(mask)[None], [size, size_other],
                                    interpolation=v2.InterpolationMode.NEAREST)[0].numpy()
                gathered = mask[nearest_sources(length, size)][:, nearest_sources(other, size_other)]
                assert np.array_equal(resized, gathered), (length, other, size, size_other)
