"""Inference: multi-scale + flip reduces to the plain forward pass at scale 1.0 without flip."""

from __future__ import annotations

import numpy as np
import torch

from ksac_cli.config import ModelConfig
from ksac_cli.engine.evaluate import evaluate, labels, predict
from ksac_cli.engine.metrics import ConfusionMatrix
from ksac_cli.models import build_model


def test_single_scale_predict_equals_the_forward_pass():
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="mobilenetv2_035", rates=(1, 2), channels=16, decoder_channels=16,
                                    num_classes=4)).eval()
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        plain = model(x).argmax(1)
        assert torch.equal(labels(predict(model, x, scales=(1.0,), flip=False)), plain)


def test_multiscale_flip_is_the_sum_of_softmaxes_built_by_hand():
    """Each scale's logits resized back to the input, each flipped view un-flipped, softmax, summed."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="mobilenetv2_035", rates=(1, 2), channels=16, decoder_channels=16,
                                    num_classes=4)).eval()
    x = torch.randn(2, 3, 64, 48)
    x[..., :20] += 2.0  # left and right differ: a flip changes what the model sees
    with torch.no_grad():
        expected = torch.zeros(2, 4, 64, 48)
        for scale in (0.5, 1.0, 1.5):
            xs = x if scale == 1.0 else F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
            for flip in (False, True):
                logits = model(xs.flip(-1)).flip(-1) if flip else model(xs)
                logits = F.interpolate(logits, size=(64, 48), mode="bilinear", align_corners=False)
                expected += logits.softmax(1)
        got = predict(model, x, scales=(0.5, 1.0, 1.5), flip=True)
        no_flip = predict(model, x, scales=(0.5, 1.0, 1.5), flip=False)
        one_scale = predict(model, x, scales=(1.0,), flip=True)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, 2 * no_flip, atol=1e-3)  # the flipped views add something of their own
    assert not torch.allclose(got, 3 * one_scale, atol=1e-3)  # and so do the other scales


def test_labels_equal_argmax_including_ties():
    scores = torch.randn(2, 5, 7, 9)
    scores[:, 3] = scores[:, 1]  # exact ties: the first index wins, as with argmax
    scores[0, :, 0, 0] = 0.0
    assert torch.equal(labels(scores), scores.argmax(1))
    assert torch.equal(labels(scores.contiguous(memory_format=torch.channels_last)), scores.argmax(1))


def _numpy_confusion(pred: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """A plain per-pixel loop: the reference the bincount-based code is checked against."""
    mat = np.zeros((k, k), np.int64)
    for t, p in zip(truth.ravel().tolist(), pred.ravel().tolist()):
        if t != 255:
            mat[t, p] += 1
    return mat


def test_evaluate_accumulates_one_matrix_and_size_buckets():
    """Two object classes with objects of every size bucket and background outside them: each bucket's
    matrix equals a confusion matrix built by hand over that bucket's pixels only."""
    from ksac_cli.data.objects import object_size_map

    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="mobilenetv2_035", rates=(1,), channels=8, decoder_channels=8,
                                    num_classes=3)).eval()
    masks = torch.zeros(2, 128, 128, dtype=torch.int64)
    masks[0, 2:8, 2:8] = 1  # small (36 px)
    masks[0, 20:60, 20:60] = 2  # medium (1600 px)
    masks[1, 0:110, 10:120] = 1  # large (12100 px)
    masks[1, 115:120, 0:6] = 2  # small
    masks[:, 125:] = 255  # ignored
    sizes = torch.stack([torch.from_numpy(object_size_map(m.numpy(), [1, 2])) for m in masks])
    assert set(sizes.unique().tolist()) == {0, 1, 2, 3}
    predictions = {}
    result = evaluate(model, [(torch.randn(2, 3, 128, 128), masks, ["a", "b"], [], sizes)], 3, torch.device("cpu"),
                      on_batch=lambda images, m, pred, ids: predictions.update(zip(ids, pred)))
    pred = torch.stack([predictions["a"], predictions["b"]]).numpy()
    truth, groups = masks.numpy(), sizes.numpy()
    assert (result.confusion.mat.numpy() == _numpy_confusion(pred, truth, 3)).all()
    for g, bucket in enumerate(("small", "medium", "large"), start=1):
        keep = groups == g
        assert keep.any()
        assert (result.by_size[bucket].mat.numpy() == _numpy_confusion(pred[keep], truth[keep], 3)).all(), bucket
    assert int(result.confusion.mat.sum()) == int((truth != 255).sum()) and result.images == 2


def test_size_iou_averages_the_classes_present_in_the_bucket():
    from ksac_cli.engine.evaluate import object_miou

    cm = ConfusionMatrix(3)
    # object pixels only: class 1 (4 px, 3 right, 1 taken for background), class 2 (2 px, both right)
    cm.update(torch.tensor([1, 1, 1, 0, 2, 2]), torch.tensor([1, 1, 1, 1, 2, 2]))
    assert object_miou(cm) == (3 / 4 + 1.0) / 2  # background (predicted, never true) is left out
    assert cm.compute()["miou"] == (0 + 3 / 4 + 1.0) / 3


def test_evaluate_keeps_one_matrix_per_image_and_size_group_summing_to_the_split():
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="mobilenetv2_035", rates=(1,), channels=8, decoder_channels=8,
                                    num_classes=3)).eval()
    batches = []
    for b, ids in enumerate((["a", "b"], ["c"])):
        masks = torch.randint(0, 3, (len(ids), 32, 32))
        masks[:, :3] = 255
        sizes = torch.randint(0, 4, (len(ids), 32, 32), dtype=torch.uint8)
        batches.append((torch.randn(len(ids), 3, 32, 32), masks, ids, [], sizes))
    predictions = {}
    result = evaluate(model, batches, 3, torch.device("cpu"),
                      on_batch=lambda images, masks, pred, ids: predictions.update(zip(ids, pred)))
    assert [i for i, _ in result.per_image] == ["a", "b", "c"]
    stack = np.stack([m for _, m in result.per_image])
    assert stack.shape == (3, 4, 3, 3) and stack.dtype == np.int32
    assert (stack.sum(axis=(0, 1)) == result.confusion.mat.numpy()).all()
    for g, bucket in enumerate(("small", "medium", "large"), start=1):
        assert (stack[:, g].sum(axis=0) == result.by_size[bucket].mat.numpy()).all()
    # image "c", group 2, counted on its own
    _, masks, _, _, sizes = batches[1]
    keep = (sizes[0] == 2) & (masks[0] != 255)
    alone = ConfusionMatrix(3)
    alone.update(predictions["c"][keep], masks[0][keep])
    assert (stack[2, 2] == alone.mat.numpy()).all()
    assert int(stack[:, :, :, :].sum()) == 3 * (32 * 32 - 3 * 32)  # every non-ignored pixel once
