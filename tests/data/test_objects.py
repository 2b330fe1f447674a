"""Objects are 8-connected components of one class; their area picks the size bucket."""

from __future__ import annotations

import numpy as np
import torch

from ksac_cli.data.objects import BUCKETS, WithObjectSizes, bucket, object_size_map, object_sizes


def test_components_sizes_and_bucket_masks():
    mask = np.zeros((200, 200), np.uint8)
    mask[0:10, 0:10] = 1  # 100 px: small
    mask[20:60, 20:60] = 1  # 1600 px: medium (a second component of class 1)
    mask[100:200, 100:200] = 2  # 10000 px: large
    mask[0:5, 190:195] = 3  # class 3 is not an object class here
    assert sorted(object_sizes(mask, {1, 2})) == [(1, 100), (1, 1600), (2, 10000)]
    assert [bucket(a) for a in (1023, 1024, 9215, 9216)] == ["small", "medium", "medium", "large"]
    sizes = object_size_map(mask, [1, 2])
    assert sizes.dtype == np.uint8
    assert [int((sizes == 1 + i).sum()) for i, _ in enumerate(BUCKETS)] == [100, 1600, 10000]
    assert sizes[0, 190] == 0 and sizes[150, 150] == 1 + BUCKETS.index("large") and sizes[199, 0] == 0


def test_dataset_wrapper_adds_the_size_map_and_passes_bad_samples():
    from ksac_cli.data import BadSample

    class Two:
        object_classes = [1]

        def __getitem__(self, i):
            if i == 1:
                return BadSample("x.png", "missing mask")
            mask = torch.zeros(40, 40, dtype=torch.int64)
            mask[:5, :5] = 1
            return torch.zeros(3, 40, 40), mask, "a"

        def __len__(self):
            return 2

    wrapped = WithObjectSizes(Two())
    image, mask, sample_id, sizes = wrapped[0]
    assert sample_id == "a" and int((sizes == 1).sum()) == 25 and int(sizes.sum()) == 25
    assert wrapped[1] == BadSample("x.png", "missing mask") and len(wrapped) == 2
