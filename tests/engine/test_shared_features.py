"""Shared frozen-backbone features (engine/shared_features.py): a run that takes its backbone's features from
another run's computation is bit for bit the run trained alone, and features are shared only when they are
the same function of the same input."""

from __future__ import annotations

import torch

from ksac_cli.config import ModelConfig
from ksac_cli.config.load import resolve_run_config
from ksac_cli.engine.checkpoint import load_checkpoint
from ksac_cli.engine.run import train_run
from ksac_cli.engine.shared_features import SharedFeatures
from ksac_cli.engine.train import freeze_backbone, train_mode
from ksac_cli.models import build_model


def run(recipe, run_dir, shared=None) -> tuple[dict, dict]:
    cfg = resolve_run_config(recipe, {"train": {"freeze_backbone": True, "run_dir": str(run_dir)}})
    summary = train_run(cfg, shared=shared)
    return summary, load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_a_run_given_shared_features_is_the_run_trained_alone(tiny_recipe, tmp_path):
    ksac, aspp = tiny_recipe("ksac", iters=3), tiny_recipe("aspp", iters=3)
    alone, alone_weights = run(ksac, tmp_path / "alone")
    shared = SharedFeatures()
    run(aspp, tmp_path / "aspp", shared)  # computes the backbone's features of every batch
    computed, calls = shared.misses, shared.misses + shared.hits
    after, after_weights = run(ksac, tmp_path / "ksac", shared)  # takes them all from there
    assert computed > 0 and shared.misses == computed and shared.hits == 2 * calls - computed
    assert after["final"]["miou"] == alone["final"]["miou"]
    assert after_weights.keys() == alone_weights.keys()
    assert all(torch.equal(after_weights[k], alone_weights[k]) for k in alone_weights)


def tiny_model(seed: int = 0):
    cfg = ModelConfig(backbone="mobilenetv2_035", head="ksac", rates=(1, 2), output_stride=16, channels=8,
                      decoder_channels=8, low_level_channels=8, num_classes=3)
    model = build_model(cfg, seed=seed)
    freeze_backbone(model)
    train_mode(model, frozen_backbone=True)
    return model


def test_features_are_shared_only_for_the_same_backbone_input_and_autocast():
    shared = SharedFeatures()
    a, b, other = tiny_model(), tiny_model(), tiny_model()
    with torch.no_grad():
        other.backbone.body.conv_stem.weight.mul_(2)  # another backbone: other weights
    for model in (a, b, other):
        assert shared.attach(model)
    x = torch.randn(2, 3, 64, 64)
    a(x)
    b(x)  # the same backbone, the same input: shared
    assert (shared.hits, shared.misses) == (1, 1)
    other(x)  # other weights
    b(x + 1e-3)  # another input
    with torch.autocast("cpu", dtype=torch.bfloat16):
        b(x)  # another precision
    assert (shared.hits, shared.misses) == (1, 4)
    expected = other.backbone(x)["out"]
    assert torch.equal(other.backbone_features(x)["out"], expected)


def test_a_learning_backbone_is_never_given_shared_features():
    shared = SharedFeatures()
    learning = build_model(ModelConfig(backbone="mobilenetv2_035", head="aspp", rates=(1, 2), output_stride=16,
                                       channels=8, decoder_channels=8, low_level_channels=8, num_classes=3))
    assert not shared.attach(learning) and learning.backbone_features is None
    frozen = tiny_model()
    assert shared.attach(frozen)
    frozen.backbone.train()  # BatchNorm would update its statistics: computed, never kept
    frozen(torch.randn(2, 3, 64, 64))
    assert (shared.hits, shared.misses, shared.bytes) == (0, 0, 0)


def test_the_least_recently_used_features_go_first_beyond_the_limit():
    model = tiny_model()
    x, y, z = (torch.randn(2, 3, 64, 64) for _ in range(3))
    probe = SharedFeatures()
    probe.attach(model)
    model(x)
    one = probe.bytes
    shared = SharedFeatures(max_bytes=2 * one)
    shared.attach(model)
    model(x), model(y), model(x), model(z)  # y is the least recently used when z comes
    assert shared.evicted == 1 and shared.bytes == 2 * one
    model(x)
    assert shared.hits == 2  # x was kept
    model(y)
    assert shared.misses == 4  # y was not
