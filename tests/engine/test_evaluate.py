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
        multi = predict(model, x, scales=(0.5, 1.0, 1.5), flip=True)
    assert multi.shape == (2, 4, 64, 48)
    assert torch.allclose(multi.sum(1), torch.full((2, 64, 48), 6.0), atol=1e-4)  # 3 scales x 2 flips


def test_labels_equal_argmax_including_ties():
    scores = torch.randn(2, 5, 7, 9)
    scores[:, 3] = scores[:, 1]  # exact ties: the first index wins, as with argmax
    scores[0, :, 0, 0] = 0.0
    assert torch.equal(labels(scores), scores.argmax(1))
    assert torch.equal(labels(scores.contiguous(memory_format=torch.channels_last)), scores.argmax(1))


def test_evaluate_accumulates_one_matrix_and_size_buckets():
    model = build_model(ModelConfig(backbone="mobilenetv2_035", rates=(1,), channels=8, decoder_channels=8,
                                    num_classes=3)).eval()
    images = torch.randn(2, 3, 32, 32)
    masks = torch.zeros(2, 32, 32, dtype=torch.int64)
    masks[:, :4, :4] = 255

    sizes = (masks == 0).to(torch.uint8)  # every class-0 pixel in "small" objects

    result = evaluate(model, [(images, masks, ["a", "b"], [], sizes)], 3, torch.device("cpu"))
    assert int(result.confusion.mat.sum()) == 2 * (32 * 32 - 16)
    assert torch.equal(result.by_size["small"].mat, result.confusion.mat)
    assert int(result.by_size["medium"].mat.sum()) == 0 and result.images == 2


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
