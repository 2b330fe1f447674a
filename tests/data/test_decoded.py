"""The decoded store (data/decoded.py): the pixels `read_sample` gives, decoded once and found by the
content of the sample's files; bad and changed files behave as without it."""

from __future__ import annotations

import numpy as np
import pytest
from layouts import make_voc, palette_png

from ksac_cli.data import decoded
from ksac_cli.data.base import SampleProblem, read_sample
from ksac_cli.data.decoded import DecodedStore
from ksac_cli.data.voc import voc


@pytest.fixture
def dataset(tmp_path):
    return voc(make_voc(tmp_path), "train")


def test_stored_pixels_are_read_sample_s_and_are_not_decoded_again(dataset, tmp_path, monkeypatch):
    store = DecodedStore(tmp_path / "store")
    sample = dataset.samples[0]
    image, mask = store.read(sample, dataset.num_classes, dataset.table)
    expected_image, expected_mask = read_sample(sample, dataset.num_classes, dataset.table)
    assert np.array_equal(image, np.asarray(expected_image)) and np.array_equal(mask, expected_mask)
    assert image.dtype == mask.dtype == np.uint8 and len(list((tmp_path / "store").iterdir())) == 1

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(decoded, "read_sample", no_decoding)
    again = store.read(sample, dataset.num_classes, dataset.table)
    assert np.array_equal(again[0], image) and np.array_equal(again[1], mask)


def test_a_changed_file_is_decoded_again_and_a_bad_one_fails_as_without_a_store(dataset, tmp_path):
    store = DecodedStore(tmp_path / "store")
    sample = dataset.samples[0]
    store.read(sample, dataset.num_classes, dataset.table)
    labels = np.full((20, 24), 7, np.uint8)
    palette_png(labels, sample.mask)  # another mask of the same size: another key
    _, mask = store.read(sample, dataset.num_classes, dataset.table)
    assert np.array_equal(mask, labels)
    sample.image.write_bytes(sample.image.read_bytes()[:100])
    with pytest.raises(SampleProblem, match="truncated image"):
        store.read(sample, dataset.num_classes, dataset.table)
    sample.mask.unlink()
    with pytest.raises(SampleProblem) as e:
        store.read(sample, dataset.num_classes, dataset.table)
    assert e.value.bad.problem == "missing mask" and e.value.bad.path == str(sample.mask)
    assert len(list((tmp_path / "store").iterdir())) == 2  # only the good pairs were stored


def test_a_damaged_entry_is_decoded_again_and_an_unwritable_folder_stores_nothing(dataset, tmp_path):
    store = DecodedStore(tmp_path / "store")
    sample = dataset.samples[0]
    image, mask = store.read(sample, dataset.num_classes, dataset.table)
    (entry,) = (tmp_path / "store").iterdir()
    entry.write_bytes(entry.read_bytes()[:-5])
    again = store.read(sample, dataset.num_classes, dataset.table)
    assert np.array_equal(again[0], image) and np.array_equal(again[1], mask)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    store = DecodedStore(blocked / "store")
    assert np.array_equal(store.read(sample, dataset.num_classes, dataset.table)[1], mask)
    assert not store.writable


def test_the_built_in_dataset_reads_through_a_store(tmp_path):
    from ksac_cli.config import DataConfig, SyntheticConfig
    from ksac_cli.data import build_dataset

    cfg = DataConfig(dataset="synthetic", data_root=str(tmp_path), synthetic=SyntheticConfig(train=3, val=2, size=32))
    ds = build_dataset(cfg, "val", train=False)
    assert ds.decoded is not None
    first = ds[0]
    assert len(list(ds.decoded.folder.iterdir())) == 1
    again = ds[0]
    assert all(a.equal(b) for a, b in zip(first[:2], again[:2]))
