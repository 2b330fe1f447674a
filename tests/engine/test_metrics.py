"""Metrics agree with torchmetrics, and follow the stated conventions on hand-made cases."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from ksac_cli.engine.metrics import ConfusionMatrix


def torchmetrics_miou(preds, target, k):
    # torchmetrics averages over classes; absent classes (no GT, no prediction) are excluded by
    # zero_division=nan + nan-aware mean (we do it by hand below for clarity).
    metric = MulticlassJaccardIndex(num_classes=k, ignore_index=255, average="none", zero_division=float("nan"))
    metric.update(preds, target)
    per_class = metric.compute()
    return per_class, float(per_class[~per_class.isnan()].mean())


@pytest.mark.parametrize("seed", range(5))
def test_random_cases_match_torchmetrics(seed):
    g = torch.Generator().manual_seed(seed)
    k = 6
    cm = ConfusionMatrix(k)
    all_p, all_t = [], []
    for _ in range(3):  # accumulated over several batches: one matrix for the whole split
        target = torch.randint(0, k, (2, 17, 13), generator=g)
        target[torch.rand(target.shape, generator=g) < 0.1] = 255
        target[target == 4] = 2  # class 4 never in the ground truth...
        pred = torch.randint(0, k, (2, 17, 13), generator=g)
        pred[pred == 5] = 1  # ...class 5 never predicted
        cm.update(pred, target)
        all_p.append(pred), all_t.append(target)
    per_class, miou = torchmetrics_miou(torch.cat(all_p), torch.cat(all_t), k)
    ours = cm.compute()
    assert ours["miou"] == pytest.approx(miou, abs=1e-6)
    for a, b in zip(ours["per_class_iou"], per_class.tolist()):
        assert (a is None and math.isnan(b)) or a == pytest.approx(b, abs=1e-6)


def test_hand_made_case():
    # 3 classes; class 2 absent from both GT and predictions -> left out of the mean.
    target = torch.tensor([0, 0, 0, 1, 1, 255, 255])
    pred = torch.tensor([0, 0, 1, 1, 1, 2, 0])  # pixels labelled 255 are ignored whatever is predicted
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    m = cm.compute()
    assert cm.mat.tolist() == [[2, 1, 0], [0, 2, 0], [0, 0, 0]]
    assert m["per_class_iou"] == [pytest.approx(2 / 3), pytest.approx(2 / 3), None]
    assert m["miou"] == pytest.approx(2 / 3)
    assert m["pixel_accuracy"] == pytest.approx(4 / 5)
    assert m["mean_class_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["fw_iou"] == pytest.approx(3 / 5 * 2 / 3 + 2 / 5 * 2 / 3)
    per_class, miou = torchmetrics_miou(pred, target, 3)
    assert m["miou"] == pytest.approx(miou, abs=1e-6)


def test_a_class_only_predicted_counts_as_zero():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 2]), torch.tensor([0, 0]))
    m = cm.compute()
    assert m["per_class_iou"] == [pytest.approx(0.5), None, 0.0]
    assert m["miou"] == pytest.approx(0.25)


def test_updates_accumulate_into_one_matrix_and_bad_labels_are_errors():
    g = torch.Generator().manual_seed(0)
    t, p = torch.randint(0, 4, (100,), generator=g), torch.randint(0, 4, (100,), generator=g)
    whole, parts = ConfusionMatrix(4), ConfusionMatrix(4)
    whole.update(p, t), parts.update(p[:40], t[:40]), parts.update(p[40:], t[40:])
    assert torch.equal(parts.mat, whole.mat)
    with pytest.raises(ValueError, match=r"\[0, 4\) or 255"):
        whole.update(torch.tensor([0]), torch.tensor([7]))


def test_grouped_counts_equal_one_matrix_per_group():
    from ksac_cli.engine.metrics import confusion_counts

    gen = torch.Generator().manual_seed(1)
    target = torch.randint(0, 4, (3, 17, 19), generator=gen)
    target[0, :3] = 255
    pred = torch.randint(0, 4, (3, 17, 19), generator=gen)
    groups = torch.randint(0, 3, (3, 17, 19), generator=gen).to(torch.uint8)
    counts = confusion_counts(pred, target, 4, groups=groups, num_groups=3)
    reference = torch.zeros(3, 4, 4, dtype=counts.dtype)  # a plain per-pixel loop, independent of bincount
    for g, t, p in zip(groups.flatten().tolist(), target.flatten().tolist(), pred.flatten().tolist()):
        if t != 255:
            reference[g, t, p] += 1
    assert torch.equal(counts, reference)
    whole = ConfusionMatrix(4)
    whole.update(pred, target)
    assert torch.equal(counts.sum(0), whole.mat)
