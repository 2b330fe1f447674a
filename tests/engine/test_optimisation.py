"""Optimisation as configured: the logged learning rate follows poly with warm-up, AdamW decays convolution
weights only, bf16 autocast trains on the CPU; and the latency percentile matches numpy's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_run import ksac

from ksac_cli.config import ModelConfig, TrainConfig
from ksac_cli.engine.train import build_optimizer, train_step
from ksac_cli.errors import KsacError
from ksac_cli.measure.latency import percentile
from ksac_cli.models import build_model


def test_logged_lr_follows_poly_with_warmup_and_bf16_trains_on_cpu(tmp_path, tiny_recipe):
    run = tmp_path / "run"
    proc = ksac("train", "--recipe", str(tiny_recipe(iters=5)), "--run-dir", str(run), "--iters", "5",
                "--warmup-iters", "2", "--optimizer", "adamw", "--lr", "0.004", "--amp", "bf16")
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # the lr used by step i (1-based): warm-up 0.002, 0.004, then 0.004 * (1 - (i - 1) / 5) ** 0.9
    expected = [0.002, 0.004, 0.004 * 0.6 ** 0.9, 0.004 * 0.4 ** 0.9, 0.004 * 0.2 ** 0.9]
    assert records[0]["lr"] == 0.004 / 2  # exactly: the warm-up's first step is lr / warmup_iters, not 0
    assert [r["lr"] for r in records] == pytest.approx(expected, rel=1e-9)
    assert all(np.isfinite(r["loss"]) for r in records)
    assert "amp: bf16" in (run / "config.yaml").read_text() and "optimizer: adamw" in (run / "config.yaml").read_text()


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_weight_decay_applies_to_convolution_weights_only(optimizer):
    model = build_model(ModelConfig(backbone="mobilenetv2_035", rates=(1, 2), channels=8, decoder_channels=8,
                                    num_classes=3))
    opt = build_optimizer(model, TrainConfig(optimizer=optimizer, weight_decay=3e-4, lr=0.1))
    assert type(opt).__name__ == {"sgd": "SGD", "adamw": "AdamW"}[optimizer]
    decayed, free = opt.param_groups
    conv_weights = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Conv2d)}
    conv_weights.add(id(model.head.weight))  # KSAC's shared 3x3 kernel, a bare Parameter
    assert {id(p) for p in decayed["params"]} == conv_weights and decayed["weight_decay"] == 3e-4
    assert free["weight_decay"] == 0.0 and all(p.ndim < 4 for p in free["params"])
    assert len(decayed["params"]) + len(free["params"]) == len(list(model.parameters()))
    if optimizer == "sgd":
        assert decayed["momentum"] == 0.9


@pytest.mark.parametrize("values", [[3.0], [5.0, 1.0], [0.3, 9.1, 2.2, 4.0, 7.5, 1.1, 6.4]])
def test_latency_percentile_equals_numpy(values):
    for q in (0, 10, 50, 90, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


def test_loss_stride_compares_resized_logits_with_every_nth_label():
    """train.loss_stride N: the loss is cross-entropy of the logits resized to 1/N of the crop against the labels
    at the centre of each N x N block; the same batch at stride 1 gives another loss, and a stride of 0 is
    refused by name."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="mobilenetv2_035", rates=(1, 2), channels=8, decoder_channels=8,
                                    num_classes=3)).eval()  # no dropout draws: the two losses see one model
    images, masks = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    masks[0, :8, :8] = 255  # ignored pixels stay ignored after the sampling
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    losses = {}
    for stride in (1, 4):
        model.load_state_dict(saved)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        losses[stride] = float(train_step(model, images, masks, optimizer, None, "off", stride))
    model.load_state_dict(saved)
    logits = torch.nn.functional.interpolate(model(images, size=(16, 16)), size=(16, 16))
    expected = torch.nn.functional.cross_entropy(logits, masks[:, 2::4, 2::4], ignore_index=255)
    assert losses[4] == pytest.approx(float(expected), rel=1e-5)
    assert abs(losses[1] - losses[4]) > 1e-4  # the full-size loss is another number
    with pytest.raises(KsacError, match=r"train.loss_stride: 0 must be a positive integer"):
        TrainConfig(loss_stride=0).validate()
