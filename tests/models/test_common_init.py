"""Common random numbers at initialisation (issue 32, STYLE habit 11): models built with one seed start from the
same weights in every module they share by name and shape, whatever else they hold or the order they were built
in; another seed starts elsewhere; building a model draws nothing from torch's global stream."""

from __future__ import annotations

import pytest
import torch

from ksac_cli.config import ModelConfig
from ksac_cli.models import build_model

TINY = dict(backbone="mobilenetv2_035", rates=(1, 2, 3), output_stride=16, channels=16, decoder_channels=16,
            low_level_channels=8, num_classes=4)
# modules ASPP and KSAC (concat) share by name and shape: every one must start equal
COMMON = ("backbone.", "head.pointwise.", "head.pooling.", "head.project.", "decoder.low.", "decoder.fuse.",
          "decoder.classifier.")


def model(head: str, seed: int, **changes) -> torch.nn.Module:
    merge = changes.pop("merge", "concat")
    return build_model(ModelConfig(head=head, merge=merge if head == "ksac" else "concat", **{**TINY, **changes}),
                       seed=seed)


def shared(a: torch.nn.Module, b: torch.nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The state-dict entries of the same name and shape in both models."""
    sa, sb = a.state_dict(), b.state_dict()
    return {k: (v, sb[k]) for k, v in sa.items() if k in sb and sb[k].shape == v.shape}


def drawn(entries: dict) -> list[str]:
    """The names of the entries drawn at random (convolution weights and biases): BatchNorm's start constant."""
    return [k for k, (v, _) in entries.items() if v.is_floating_point() and v.numel() > 1
            and not (torch.all(v == v.flatten()[0]))]


@pytest.mark.parametrize("decoder", [True, False])
@pytest.mark.parametrize("merge", ["concat", "sum"])
def test_aspp_and_ksac_of_one_seed_start_equal_in_every_module_they_share(decoder, merge):
    aspp, ksac = model("aspp", 5, decoder=decoder), model("ksac", 5, decoder=decoder, merge=merge)
    common = shared(aspp, ksac)
    unequal = [k for k, (a, b) in common.items() if not torch.equal(a, b)]
    assert not unequal
    random = drawn(common)
    parts = COMMON if decoder else ("backbone.", "head.pointwise.", "head.pooling.", "decoder.classifier.")
    if merge == "sum":  # its projection takes 3 slices, ASPP's 5: another shape, so not shared
        parts = tuple(p for p in parts if p != "head.project.")
        assert "head.project.0.0.weight" not in common
    for part in parts:
        assert any(k.startswith(part) and k.endswith("weight") for k in random), part
    # what they do not share differs in kind: ASPP's per-rate kernels, KSAC's one shared kernel
    assert "head.weight" in ksac.state_dict() and "head.atrous.0.0.weight" in aspp.state_dict()


def test_another_seed_starts_every_drawn_weight_elsewhere():
    a, b = model("ksac", 0), model("ksac", 1)
    entries = shared(a, b)
    random = drawn(entries)
    assert len(random) > 20 and any(k.startswith("head.") for k in random) and "head.weight" in random
    assert all(not torch.equal(*entries[k]) for k in random)


def test_a_model_of_one_seed_is_the_same_whatever_was_built_or_drawn_before():
    first = model("aspp", 3)
    model("ksac", 3, rates=(1, 2, 3, 4))  # another model in between
    torch.rand(1234)  # and draws from the global stream
    again = model("aspp", 3)
    assert first.state_dict().keys() == again.state_dict().keys()
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in first.state_dict().items())


def test_building_a_model_draws_nothing_from_the_global_stream():
    torch.manual_seed(11)
    expected = torch.rand(8)
    torch.manual_seed(11)
    model("ksac", 2)
    assert torch.equal(torch.rand(8), expected)


def test_shipped_backbone_weights_still_load():
    """The builtin backbone file holds backbone keys only; keyed initialisation must not overwrite them."""
    from ksac_cli.weights import resolve

    saved = torch.load(resolve("builtin:quick_backbone"), weights_only=True)
    cfg = ModelConfig(backbone="mobilenetv2_035", head="ksac", output_stride=8, channels=16, decoder_channels=16,
                      low_level_channels=8, num_classes=4, backbone_weights="builtin:quick_backbone")
    for seed in (0, 7):
        body = build_model(cfg, seed=seed).backbone.body.state_dict()
        assert saved.keys() <= body.keys()
        assert all(torch.equal(v, body[k]) for k, v in saved.items())
