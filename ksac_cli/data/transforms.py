"""Training and evaluation transforms (torchvision.transforms.v2, masks as tv_tensors.Mask).

Training: random scale, pad (image with the mean colour, mask with 255) to the crop size, random crop,
horizontal flip, normalisation. Evaluation: the whole image, normalised. Random draws come from torch's
global RNG, which the engine seeds per sample (engine/sampler.py)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ksac_cli.conventions import IGNORE_INDEX

MEAN = (0.485, 0.456, 0.406)  # ImageNet, as the pretrained backbones expect
STD = (0.229, 0.224, 0.225)
MEAN_UINT8 = tuple(round(255 * m) for m in MEAN)


class Rescale(v2.Transform):
    """Resize image (bilinear, antialiased) and mask (nearest) by `factor` (`ksac analyze`'s scale sweep)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def draw(self) -> float:
        return self.factor

    def make_params(self, flat_inputs):
        h, w = v2.query_size(flat_inputs)
        scale = self.draw()
        return {"size": [max(1, round(h * scale)), max(1, round(w * scale))]}

    def transform(self, inpt, params):
        if isinstance(inpt, tv_tensors.Mask):
            return TF.resize(inpt, params["size"], interpolation=v2.InterpolationMode.NEAREST)
        return TF.resize(inpt, params["size"], interpolation=v2.InterpolationMode.BILINEAR, antialias=True)


class RandomScale(Rescale):
    """`Rescale` by one factor per sample, drawn uniformly from [low, high] (training augmentation)."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__(1.0)
        self.low, self.high = low, high

    def draw(self) -> float:
        return self.low + (self.high - self.low) * float(torch.rand(()))


class PadTo(v2.Transform):
    """Pad right and bottom up to `size` x `size`: the image with the mean colour, the mask with 255."""

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


class Pair:
    """(PIL image, uint8 mask array) -> (float image (3, H, W), int64 mask (H, W))."""

    def __init__(self, transforms: list) -> None:
        self.transforms = v2.Compose(transforms) if transforms else None
        self.normalise = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])

    def __call__(self, image: Image.Image, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        img = tv_tensors.Image(TF.pil_to_tensor(image))  # (3, H, W) uint8
        msk = tv_tensors.Mask(torch.from_numpy(np.array(mask, dtype=np.uint8)))  # (H, W) uint8
        if self.transforms is not None:
            img, msk = self.transforms(img, msk)
        return self.normalise(img).as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor).to(torch.int64)


def train_transform(crop_size: int, scale_min: float = 0.5, scale_max: float = 2.0) -> Pair:
    return Pair([RandomScale(scale_min, scale_max), PadTo(crop_size), v2.RandomCrop(crop_size),
                 v2.RandomHorizontalFlip()])


def eval_transform(scale: float = 1.0) -> Pair:
    """The whole image (and mask), optionally rescaled by `scale`; 1.0 leaves both untouched."""
    return Pair([] if scale == 1.0 else [Rescale(scale)])
