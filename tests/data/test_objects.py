"""Objects are 8-connected components of one class; their area picks the size bucket."""

from __future__ import annotations

import numpy as np
import torch

from ksac_cli.data.objects import bucket, object_size_masks, object_sizes


def test_components_sizes_and_bucket_masks():
    mask = np.zeros((200, 200), np.uint8)
    mask[0:10, 0:10] = 1  # 100 px: small
    mask[20:60, 20:60] = 1  # 1600 px: medium (a second component of class 1)
    mask[100:200, 100:200] = 2  # 10000 px: large
    mask[0:5, 190:195] = 3  # class 3 is not an object class here
    assert sorted(object_sizes(mask, {1, 2})) == [(1, 100), (1, 1600), (2, 10000)]
    assert [bucket(a) for a in (1023, 1024, 9215, 9216)] == ["small", "medium", "medium", "large"]
    masks = object_size_masks(torch.from_numpy(mask), [1, 2])
    assert [int(masks[b].sum()) for b in ("small", "medium", "large")] == [100, 1600, 10000]
    assert not masks["small"][0, 190] and bool(masks["large"][150, 150])
