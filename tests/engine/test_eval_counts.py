"""The per-image, per-size-group pixel counts of an evaluation batch equal a per-pixel loop, with ignored
pixels, with and without size maps, for masks of either integer type; labels outside the classes are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ksac_cli.engine.evaluate import GROUPS, per_image_counts


def reference_counts(pred: np.ndarray, masks: np.ndarray, sizes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((pred.shape[0], len(GROUPS), k, k), np.int64)
    for (b, y, x), t in np.ndenumerate(masks):
        if t != 255:
            out[b, sizes[b, y, x], t, pred[b, y, x]] += 1
    return out


@pytest.mark.parametrize("k", [2, 21])
def test_counts_per_image_and_size_group_equal_a_per_pixel_loop(k):
    rng = np.random.default_rng(k)
    masks = rng.integers(0, k, (3, 11, 17))
    masks[rng.random(masks.shape) < 0.2] = 255
    pred = rng.integers(0, k, masks.shape)
    sizes = rng.integers(0, len(GROUPS), masks.shape).astype(np.uint8)
    masks_t = torch.from_numpy(masks.copy())
    got = per_image_counts(torch.from_numpy(pred), masks_t, torch.from_numpy(sizes), k)
    assert np.array_equal(masks_t.numpy(), masks) and int((masks_t == 255).sum()) > 0  # left as they were
    assert np.array_equal(per_image_counts(torch.from_numpy(pred), masks_t.int(), torch.from_numpy(sizes), k), got)
    assert got.shape == (3, len(GROUPS), k, k) and got.dtype == torch.int64
    assert np.array_equal(got.numpy(), reference_counts(pred, masks, sizes, k))
    without = per_image_counts(torch.from_numpy(pred), torch.from_numpy(masks), None, k)  # all in group 0
    assert np.array_equal(without.numpy(), reference_counts(pred, masks, np.zeros_like(sizes), k))


@pytest.mark.parametrize("bad", [5, -1, 254])
def test_labels_outside_the_classes_are_an_error(bad):
    masks = torch.zeros(1, 4, 4, dtype=torch.int64)
    masks[0, 1, 1] = bad
    with pytest.raises(ValueError, match=r"target labels must be in \[0, 5\) or 255"):
        per_image_counts(torch.zeros(1, 4, 4, dtype=torch.int64), masks, None, 5)
