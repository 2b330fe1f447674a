"""measure/step.py: the timed training step is the project's own step (the optimizer really updates the
weights, a frozen backbone stays fixed), batch 1 trains with the image-pooling branch in eval mode, and the
setting key ignores the seed. Small models and sizes; no measured time is compared with anything (timings
live in benchmarks/)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ksac_cli.config import ModelConfig, TrainConfig
from ksac_cli.engine.train import build_optimizer, freeze_backbone
from ksac_cli.measure.step import cell_times, measure_train_step, random_batch, step_setting
from ksac_cli.models import build_model

SIZE = 64
SMALL = dict(backbone="mobilenetv2_035", rates=(1, 2), output_stride=16, channels=16, decoder_channels=16,
             low_level_channels=8, num_classes=3)


def small_model(head: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(head=head, **SMALL))


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


@pytest.mark.parametrize("head", ["aspp", "ksac"])
def test_the_measured_steps_update_every_trained_weight(head):
    model = small_model(head)
    before = snapshot(model)
    images, masks = random_batch(2, SIZE, 3, torch.device("cpu"))
    assert images.shape == (2, 3, SIZE, SIZE) and masks.shape == (2, SIZE, SIZE)
    assert masks.dtype == torch.int64 and 0 <= masks.min() and masks.max() < 3
    optimizer = build_optimizer(model, TrainConfig())
    timing = measure_train_step(model, images, masks, optimizer, runs=2, warmup=1)
    params = dict(model.named_parameters())
    assert all(p.grad is not None for p in params.values())  # backward reached every parameter
    assert len(optimizer.state) == len(params)  # and the optimizer stepped each (its momentum buffer)
    # every convolution's weights moved (a BatchNorm scale of 1.0 may move by less than its float32 step)
    assert {name for name, p in params.items() if p.ndim == 4} <= changed(before, model)
    assert timing.runs == 2 and timing.ms_p90 >= timing.ms_median > 0
    assert timing.images_per_s == pytest.approx(2 / (timing.ms_median / 1000.0))


def test_a_frozen_backbone_stays_fixed_while_the_head_and_decoder_train():
    model = small_model("ksac")
    freeze_backbone(model)
    before = snapshot(model)
    images, masks = random_batch(2, SIZE, 3, torch.device("cpu"))
    optimizer = build_optimizer(model, dataclasses.replace(TrainConfig(), optimizer="adamw"))
    measure_train_step(model, images, masks, optimizer, runs=1, warmup=1, frozen_backbone=True)
    moved = changed(before, model)
    assert not any(k.startswith("backbone.") for k in moved)  # weights and BatchNorm statistics
    assert any(k.startswith("head.") for k in moved) and any(k.startswith("decoder.") for k in moved)


@pytest.mark.parametrize("head", ["aspp", "ksac"])
def test_batch_1_trains_with_the_image_pooling_branch_in_eval_mode(head):
    model = small_model(head)
    images, masks = random_batch(1, SIZE, 3, torch.device("cpu"))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):  # why it is needed
        build_model(ModelConfig(head=head, **SMALL)).train()(images)
    before = snapshot(model)
    measure_train_step(model, images, masks, build_optimizer(model, TrainConfig()), runs=1, warmup=0)
    moved = changed(before, model)
    pooling_bn = {k for k in before if k.startswith("head.pooling.") and "running_" in k}
    assert pooling_bn and not pooling_bn & moved  # its BatchNorm used its running statistics
    assert model.head.pooling[1][0].weight.ndim == 4 and "head.pooling.1.0.weight" in moved  # its conv trained
    assert any(k.startswith("backbone.") and "running_mean" in k for k in moved)  # other BatchNorms trained


def test_cell_times_times_the_frozen_backbone_only_when_it_is_frozen():
    """What is timed, not how long it took (timings belong in benchmarks/): every part is a measured time, and
    the backbone's own share is timed for a frozen backbone and is 0 for one that learns (nothing to share)."""
    model_cfg = ModelConfig(head="ksac", **SMALL)
    train_cfg = TrainConfig(batch_size=2, optimizer="adamw", freeze_backbone=True, device="cpu")
    frozen = cell_times(model_cfg, train_cfg, SIZE, SIZE, 2, torch.device("cpu"), runs=1, warmup=0)
    assert min(dataclasses.astuple(frozen)) > 0
    learning = cell_times(model_cfg, dataclasses.replace(train_cfg, freeze_backbone=False), SIZE, SIZE, 2,
                          torch.device("cpu"), runs=1, warmup=0)
    assert learning.step > 0 and learning.eval_batch > 0
    assert learning.backbone_step == learning.backbone_eval == 0


def test_the_setting_key_holds_what_the_time_depends_on_and_nothing_else():
    model_cfg = ModelConfig(head="ksac", **SMALL)
    train_cfg = TrainConfig(batch_size=2, optimizer="adamw", freeze_backbone=True, device="cpu")
    same = step_setting(dataclasses.replace(model_cfg, backbone_weights="builtin:quick_backbone"),
                        dataclasses.replace(train_cfg, seed=7, lr=0.5, iters=9, run_dir="elsewhere"), SIZE)
    assert same == step_setting(model_cfg, train_cfg, SIZE)  # seed, lr, iterations, weights: same time
    assert step_setting(model_cfg, dataclasses.replace(train_cfg, batch_size=4), SIZE) != same
    assert step_setting(model_cfg, dataclasses.replace(train_cfg, loss_stride=4), SIZE) != same
    assert step_setting(dataclasses.replace(model_cfg, head="aspp"), train_cfg, SIZE) != same
    assert step_setting(model_cfg, train_cfg, 2 * SIZE) != same
