"""report/stats.py against independent computations: scipy's t test, a plain loop over the same bootstrap
draws, the engine's ConfusionMatrix (torch) for the mIoU convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from ksac_cli.engine.evaluate import object_miou
from ksac_cli.engine.metrics import ConfusionMatrix, metrics_from_matrix
from ksac_cli.errors import KsacError
from ksac_cli.report.evidence import Evidence, aligned
from ksac_cli.report.stats import miou, paired_bootstrap, resample_counts, size_iou, t_interval


def random_matrices(rng, n: int, k: int, absent: tuple = ()) -> np.ndarray:
    """(n, k, k) pixel counts; classes in `absent` never true nor predicted."""
    mats = rng.integers(0, 20, size=(n, k, k)) + np.eye(k, dtype=np.int64) * rng.integers(20, 200, size=(n, 1, 1))
    for c in absent:
        mats[:, c, :] = 0
        mats[:, :, c] = 0
    return mats


@pytest.mark.parametrize("values", [[1.0, 2.5, 0.5], [3.0, -1.0, 2.0, 0.25, 1.5], [0.1, 0.2]])
def test_t_interval_equals_scipys_one_sample_t_test(values):
    ci = t_interval(values)
    expected = scipy_stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert ci.mean == pytest.approx(np.mean(values))
    assert (ci.low, ci.high) == pytest.approx((expected.low, expected.high), rel=1e-12)


def test_t_interval_of_paired_differences_equals_ttest_rel():
    a, b = np.array([0.53, 0.55, 0.51]), np.array([0.50, 0.54, 0.49])
    expected = scipy_stats.ttest_rel(a, b).confidence_interval(0.90)
    ci = t_interval(a - b, confidence=0.90)
    assert (ci.low, ci.high) == pytest.approx((expected.low, expected.high), rel=1e-12)


def test_t_interval_with_one_value_has_no_interval():
    ci = t_interval([0.4])
    assert ci.mean == 0.4 and ci.low is None and ci.high is None
    with pytest.raises(ValueError):
        t_interval([])


def test_miou_of_matrices_equals_the_engines_convention():
    rng = np.random.default_rng(1)
    mats = random_matrices(rng, 5, 4, absent=(2,))  # class 2 absent from truth and predictions
    mats[1, 3, :] = 0  # class 3 predicted but never true in image 1
    for m in mats:
        expected = ConfusionMatrix(4)
        expected.mat += torch.from_numpy(m)
        assert miou(m) == pytest.approx(expected.compute()["miou"], rel=1e-12)
        assert size_iou(m) == pytest.approx(object_miou(expected), rel=1e-12)
    assert miou(mats).shape == (5,)  # vectorised over leading dimensions
    assert np.isnan(miou(np.zeros((3, 3)))) and np.isnan(size_iou(np.zeros((3, 3))))


def test_size_iou_leaves_out_classes_only_predicted():
    m = np.zeros((3, 3), np.int64)
    m[1, 1], m[1, 0], m[2, 2] = 3, 1, 2  # class 0 (background) only predicted
    assert size_iou(m) == pytest.approx((3 / 4 + 1.0) / 2)
    assert miou(m) == pytest.approx((0 + 3 / 4 + 1.0) / 3)


def test_resample_counts_count_the_drawn_indices():
    counts = resample_counts(5, 7, seed=3)
    draws = np.random.default_rng(3).integers(0, 5, size=(7, 5))
    assert counts.shape == (7, 5) and (counts.sum(axis=1) == 5).all()
    for r in range(7):
        assert (counts[r] == np.bincount(draws[r], minlength=5)).all()


@pytest.mark.parametrize("score,engine", [(miou, lambda cm: cm.compute()["miou"]), (size_iou, object_miou)])
def test_paired_bootstrap_equals_a_plain_loop_over_the_same_draws(score, engine):
    rng = np.random.default_rng(0)
    a, b = random_matrices(rng, 6, 3), random_matrices(rng, 6, 3)
    result = paired_bootstrap(a, b, resamples=200, seed=5, score=score)
    draws = np.random.default_rng(5).integers(0, 6, size=(200, 6))
    diffs = []
    for idx in draws:  # the same images for both models, summed, scored by the engine (torch)
        scores = []
        for mats in (a, b):
            cm = ConfusionMatrix(3)
            cm.mat += torch.from_numpy(mats[idx].sum(axis=0))
            scores.append(engine(cm))
        diffs.append(scores[0] - scores[1])
    assert result.mean == pytest.approx(np.mean(diffs), rel=1e-12)
    assert (result.low, result.high) == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])), rel=1e-12)


def test_paired_bootstrap_by_exact_enumeration_of_three_images():
    """3 images: 27 equally likely ordered draws; with many resamples the interval's ends are values of
    the enumeration and its mean approaches the enumeration's mean."""
    import itertools

    rng = np.random.default_rng(2)
    a, b = random_matrices(rng, 3, 3), random_matrices(rng, 3, 3)
    exact = [miou(a[list(i)].sum(0)) - miou(b[list(i)].sum(0)) for i in itertools.product(range(3), repeat=3)]
    result = paired_bootstrap(a, b, resamples=20000, seed=0)
    assert result.mean == pytest.approx(np.mean(exact), abs=5 * np.std(exact) / np.sqrt(20000))
    assert min(exact) <= result.low <= result.high <= max(exact)
    assert np.isclose(exact, result.low).any() and np.isclose(exact, result.high).any()


def test_paired_bootstrap_of_identical_models_is_zero_and_shapes_are_checked():
    a = random_matrices(np.random.default_rng(4), 4, 3)
    same = paired_bootstrap(a, a.copy(), resamples=50)
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="one shape"):
        paired_bootstrap(a, a[:3])
    assert paired_bootstrap(np.zeros((0, 3, 3)), np.zeros((0, 3, 3))) is None
    assert paired_bootstrap(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), score=size_iou) is None  # no pixels


def test_aligned_pairs_images_by_id_and_refuses_different_images(tmp_path):
    conf = np.arange(3 * 4 * 2 * 2).reshape(3, 4, 2, 2)
    a = Evidence(tmp_path / "a.npz", ["x", "y", "z"], conf, ["bg", "fg"])
    b = Evidence(tmp_path / "b.npz", ["z", "x", "y"], conf[[2, 0, 1]], ["bg", "fg"])
    left, right = aligned(a, b)
    assert (left == right).all() and (aligned(a, b, group=2)[1] == conf[:, 2]).all()
    c = Evidence(tmp_path / "c.npz", ["x", "y", "w"], conf, ["bg", "fg"])
    with pytest.raises(KsacError, match="different val images"):
        aligned(a, c)


def test_an_interval_unpacks_as_mean_low_high():
    mean, low, high = t_interval([1.0, 3.0])
    assert mean == 2.0 and low < 2.0 < high
