"""The heads: exact parameter arithmetic (paper.md), kernel sharing by construction and by behaviour."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ksac_cli.models.heads import ASPP, KSAC

# paper.md, "Parameter arithmetic that the toolkit must reproduce exactly" (head only, 256 channels).
PAPER_HEAD_PARAMS = [
    # in_channels, rates, ASPP, KSAC concat, KSAC sum
    (2048, (6, 12, 18), 15_535_104, 6_097_920, 5_966_848),
    (2048, (6, 12, 18, 24), 20_319_744, 6_163_968, 5_967_360),
    (320, (6, 12, 18), 2_706_432, 1_231_872, 1_100_800),
    (320, (6, 12, 18, 24), 3_509_760, 1_297_920, 1_101_312),
]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("in_channels,rates,aspp,ksac_concat,ksac_sum", PAPER_HEAD_PARAMS)
def test_head_parameters_match_the_paper_exactly(in_channels, rates, aspp, ksac_concat, ksac_sum):
    assert n_params(ASPP(in_channels, rates, 256)) == aspp
    assert n_params(KSAC(in_channels, rates, 256, merge="concat")) == ksac_concat
    assert n_params(KSAC(in_channels, rates, 256, merge="sum")) == ksac_sum


@pytest.mark.parametrize("rates", [(6,), (6, 12, 18), (2, 4, 6, 8, 10)])
def test_ksac_has_one_3x3_kernel_and_one_bn_per_rate(rates):
    head = KSAC(32, rates, 16)
    kernels = [p for p in head.parameters() if p.dim() == 4 and p.shape[-2:] == (3, 3)]
    assert len(kernels) == 1 and kernels[0] is head.weight
    assert tuple(head.weight.shape) == (16, 32, 3, 3)
    assert len(head.bns) == len(rates)
    assert len({id(bn) for bn in head.bns}) == len(rates)  # distinct BN modules, not one shared


def test_aspp_parameters_grow_with_rates_but_ksac_kernel_does_not():
    grow_aspp = n_params(ASPP(64, (1, 2, 3, 4), 16)) - n_params(ASPP(64, (1, 2, 3), 16))
    grow_ksac = n_params(KSAC(64, (1, 2, 3, 4), 16, merge="sum")) - n_params(KSAC(64, (1, 2, 3), 16, merge="sum"))
    assert grow_aspp == 64 * 16 * 9 + 2 * 16 + 16 * 16  # one more 3x3 kernel + its BN + projection slice
    assert grow_ksac == 2 * 16  # sum merge: only one more BN


@pytest.mark.parametrize("separable", [False, True])
def test_gradient_reaches_the_shared_kernel_from_every_rate(separable):
    torch.manual_seed(0)
    head = KSAC(8, (1, 2, 3), 8, separable=separable).train()
    x = torch.randn(2, 8, 9, 9)
    for i in range(len(head.rates)):
        head.zero_grad()
        head.atrous(x)[i].square().sum().backward()
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0, f"rate index {i}"
        # only that rate's BN received gradient
        for j, bn in enumerate(head.bns):
            touched = bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0
            assert touched == (i == j)


def _randomise_bn(module: nn.Module, gen: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("rates", [(1, 2, 3), (2, 5, 7, 11)])
def test_ksac_equals_aspp_with_the_kernel_copied_into_every_branch(rates, separable):
    """The definition of kernel sharing: ASPP whose atrous branches all hold the KSAC kernel (and the
    same per-rate BNs and other weights) computes exactly what KSAC (merge=concat) computes."""
    gen = torch.Generator().manual_seed(1)
    ksac = KSAC(12, rates, 10, merge="concat", separable=separable)
    aspp = ASPP(12, rates, 10, separable=separable)
    _randomise_bn(ksac, gen)
    with torch.no_grad():
        aspp.pointwise.load_state_dict(ksac.pointwise.state_dict())
        aspp.pooling.load_state_dict(ksac.pooling.state_dict())
        aspp.project.load_state_dict(ksac.project.state_dict())
        for i, branch in enumerate(aspp.atrous):
            if separable:  # depthwise conv, its BN, then the pointwise ConvBNReLU
                branch[0].weight.copy_(ksac.depthwise_weight)
                branch[1].load_state_dict(ksac.depthwise_bns[i].state_dict())
                branch[3][0].weight.copy_(ksac.weight)
                branch[3][1].load_state_dict(ksac.bns[i].state_dict())
            else:
                branch[0].weight.copy_(ksac.weight)
                branch[1].load_state_dict(ksac.bns[i].state_dict())
    x = torch.randn(2, 12, 15, 13, generator=gen)
    ksac.eval(), aspp.eval()
    torch.testing.assert_close(ksac(x), aspp(x), rtol=1e-5, atol=1e-5)
    # and the heads are not trivially equal: another kernel in one ASPP branch changes the output
    with torch.no_grad():
        target = aspp.atrous[0][0] if not separable else aspp.atrous[0][3][0]
        target.weight.add_(0.5)
    assert not torch.allclose(ksac(x), aspp(x), atol=1e-3)


def test_sum_merge_is_the_sum_of_the_per_rate_maps():
    torch.manual_seed(2)
    head = KSAC(6, (1, 3), 4, merge="sum").eval()
    x = torch.randn(1, 6, 8, 8)
    atrous = head.atrous(x)
    expected = head.project(torch.cat([head.pointwise(x), atrous[0] + atrous[1], head.pooling(x)], dim=1))
    torch.testing.assert_close(head(x), expected)


@pytest.mark.parametrize("head_cls", [ASPP, KSAC])
@pytest.mark.parametrize("size", [(7, 7), (10, 13)])
def test_heads_keep_the_spatial_size_and_give_out_channels(head_cls, size):
    head = head_cls(16, (1, 2, 6), 24).eval()
    assert head(torch.randn(2, 16, *size)).shape == (2, 24, *size)
