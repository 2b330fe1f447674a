"""The qualitative samples' choice: a pure function of the ids and the ground truth's object sizes."""

from __future__ import annotations

import numpy as np

from ksac_cli.engine.qualitative import ANY, buckets_present, choose_samples, file_stem


def dataset(n: int = 20, seed: int = 1):
    rng = np.random.default_rng(seed)
    ids = [f"img_{i:03d}" for i in range(n)]
    present = rng.random((n, 3)) < 0.5
    return ids, present


def test_the_choice_prefers_two_images_per_size_bucket():
    ids, present = dataset()
    chosen = choose_samples(ids, present)
    assert len(chosen) == 6 and len({i for i, _ in chosen}) == 6
    assert [b for _, b in chosen] == ["small", "small", "medium", "medium", "large", "large"]
    row = dict(zip(ids, present))
    for sample_id, bucket in chosen:
        assert row[sample_id][("small", "medium", "large").index(bucket)]


def test_the_choice_ignores_the_input_order_and_repeats_exactly():
    ids, present = dataset()
    order = np.random.default_rng(5).permutation(len(ids))
    shuffled = choose_samples([ids[i] for i in order], present[order])
    assert shuffled == choose_samples(ids, present) == choose_samples(list(ids), present.copy())
    assert choose_samples(ids, present, seed=1) != choose_samples(ids, present)  # the seed does the drawing


def test_missing_buckets_are_filled_with_other_images_and_small_sets_give_all():
    ids = ["a", "b", "c", "d", "e", "f", "g"]
    present = np.zeros((7, 3), bool)
    present[[1, 4], 0] = True  # two images with small objects, none with medium or large
    chosen = choose_samples(ids, present)
    assert sorted(i for i, b in chosen if b == "small") == ["b", "e"]
    assert len(chosen) == 6 and [b for _, b in chosen[2:]] == [ANY] * 4
    assert sorted(i for i, _ in choose_samples(ids[:3], present[:3])) == ["a", "b", "c"]
    assert choose_samples([], np.zeros((0, 3), bool)) == []


def test_buckets_present_reads_the_truth_rows_of_each_size_group():
    empty = np.zeros((4, 3, 3), np.int32)
    medium = empty.copy()
    medium[2, 1, 0] = 5  # 5 pixels of class 1 in a medium object, taken for class 0
    ids, present = buckets_present([("x", empty), ("y", medium)])
    assert ids == ["x", "y"] and present.tolist() == [[False, False, False], [False, True, False]]


def test_file_stems_are_safe_names():
    assert file_stem("2007_000033") == "2007_000033"
    assert file_stem("city/frankfurt 01") == "city_frankfurt_01"
