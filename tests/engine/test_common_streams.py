"""Common random numbers during training (issue 32, STYLE habit 11): a step's dropout masks are keyed by
(seed, iteration, rank), not by the model or by what was drawn before; a sample's augmentation is keyed by
(seed, position in the data stream), so every position draws its own and a resumed stream draws the same."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ksac_cli.config import DataConfig, ModelConfig, SyntheticConfig, TrainConfig
from ksac_cli.engine.sampler import ResumableSampler, SeededSamples
from ksac_cli.engine.train import Progress, Training, build_optimizer, build_scheduler, fit
from ksac_cli.models import build_model

ITERS = 3


def dropout_masks(head: str, tmp_path, seed: int = 4, rank: int = 0, drawn_before: int = 0) -> list[torch.Tensor]:
    """The head's dropout masks at each step of a tiny `fit`: 1 where it kept an element, 0 where it zeroed one,
    -1 where its input was 0 already (nothing to tell)."""
    cfg = ModelConfig(backbone="mobilenetv2_035", head=head, rates=(1, 2), output_stride=16, channels=16,
                      decoder_channels=8, low_level_channels=8, num_classes=3, dropout=0.5)
    model = build_model(cfg, seed=seed)
    train_cfg = TrainConfig(iters=ITERS, batch_size=2, seed=seed, save_every=100, log_every=100, eval_every=0,
                            device="cpu")
    masks: list[torch.Tensor] = []
    model.head.project[1].register_forward_hook(
        lambda m, i, o: masks.append(torch.where(i[0] == 0, -1, (o != 0).int())))
    optimizer = build_optimizer(model, train_cfg)
    t = Training(model, optimizer, build_scheduler(optimizer, train_cfg), None, train_cfg, torch.device("cpu"),
                 tmp_path / f"{head}-{rank}-{drawn_before}", {}, rank=rank)
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(2, 3, 64, 64, generator=gen), torch.randint(0, 3, (2, 64, 64), generator=gen), None, [],
                None) for _ in range(ITERS)]
    torch.manual_seed(seed)
    torch.rand(drawn_before)  # whatever else a run drew before its first step
    fit(t, iter(batches), Progress(0, 0), lambda it: {"miou": 0.0})
    assert len(masks) == ITERS and all((m == 0).any() and (m == 1).any() for m in masks)
    return masks


def agree(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Two masks keep and drop the same elements where both had a non-zero input (the heads differ)."""
    both = (a >= 0) & (b >= 0)
    return bool(both.sum() > 50) and torch.equal(a[both], b[both])


def test_aspp_and_ksac_of_one_seed_draw_the_same_dropout_masks_at_every_step(tmp_path):
    aspp = dropout_masks("aspp", tmp_path)
    ksac = dropout_masks("ksac", tmp_path, drawn_before=1000)
    assert all(agree(a, k) for a, k in zip(aspp, ksac))
    assert not agree(aspp[0], aspp[1])  # each step draws its own


def test_dropout_masks_differ_between_seeds_and_between_ranks(tmp_path):
    base = dropout_masks("ksac", tmp_path)
    assert not agree(base[0], dropout_masks("ksac", tmp_path, seed=5)[0])
    assert not agree(base[0], dropout_masks("ksac", tmp_path, rank=1)[0])


@pytest.fixture(scope="module")
def one_image(tmp_path_factory):
    """The built-in training set's transform (random scale, crop, flip) over a ONE-image dataset: every
    position of the data stream loads the same image, so any difference is the augmentation's."""
    from ksac_cli.data import build_dataset

    cfg = DataConfig(dataset="synthetic", data_root=str(tmp_path_factory.mktemp("synth")), crop_size=32,
                     workers=0, synthetic=SyntheticConfig(train=1, val=1, size=64, seed=3))
    return SeededSamples(build_dataset(cfg, "train", train=True))


def load(samples: SeededSamples, sampler: ResumableSampler, count: int) -> list[torch.Tensor]:
    stream = iter(sampler)
    return [samples[next(stream)][0] for _ in range(count)]


def test_every_position_of_the_data_stream_draws_its_own_augmentation(one_image):
    images = load(one_image, ResumableSampler(1, global_batch=2, seed=0), 6)
    assert all(not torch.equal(images[i], images[j]) for i in range(6) for j in range(i))
    # resumed at position 2: the same augmentations at the same positions; another seed: others
    assert all(torch.equal(a, b) for a, b in zip(images[2:], load(one_image, ResumableSampler(1, 2, 0, start=2), 4)))
    other = load(one_image, ResumableSampler(1, global_batch=2, seed=1), 6)
    assert all(not torch.equal(a, b) for a, b in zip(images, other))


def test_the_ranks_of_a_stream_share_its_positions_without_repeating_one(one_image):
    whole = load(one_image, ResumableSampler(1, global_batch=4, seed=0), 8)
    ranks = [load(one_image, ResumableSampler(1, 4, 0, rank=r, world_size=2), 4) for r in (0, 1)]
    # global batch i: rank 0 takes positions 4i, 4i+1; rank 1 takes 4i+2, 4i+3
    assert all(torch.equal(a, b) for a, b in zip(ranks[0], whole[0:2] + whole[4:6]))
    assert all(torch.equal(a, b) for a, b in zip(ranks[1], whole[2:4] + whole[6:8]))
