"""KSAC's two implementations are one function: tap reuse equals the dilated convolutions, forward and
backward (input gradient and the shared kernel's gradient), for any rates and map sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ksac_cli.models.heads import KSAC
from ksac_cli.models.heads.taps import shared_kernel_taps

CASES = [
    # batch, c_in, c_out, height, width, rates
    (2, 5, 3, 9, 9, (1, 2, 3)),
    (1, 4, 6, 8, 10, (6, 12, 18, 24)),  # even sides; rates >= the side read only zero padding
    (3, 3, 2, 7, 4, (2, 3)),  # non-square, odd x even
    (2, 6, 4, 13, 13, (6,)),
    (1, 2, 2, 1, 1, (1, 6)),  # a 1x1 map: only the centre tap contributes
]


def reference(x: torch.Tensor, weight: torch.Tensor, rates) -> list[torch.Tensor]:
    return [F.conv2d(x, weight, padding=r, dilation=r) for r in rates]


def grads(outputs: list[torch.Tensor], upstream: list[torch.Tensor], *inputs: torch.Tensor):
    return torch.autograd.grad(sum((o * u).sum() for o, u in zip(outputs, upstream)), inputs)


@pytest.mark.parametrize("batch,c_in,c_out,height,width,rates", CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_taps_equal_dilated_convolutions_forward_and_backward(batch, c_in, c_out, height, width, rates,
                                                              channels_last):
    gen = torch.Generator().manual_seed(batch * 100 + height)
    x = torch.randn(batch, c_in, height, width, dtype=torch.float64, generator=gen)
    weight = torch.randn(c_out, c_in, 3, 3, dtype=torch.float64, generator=gen)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    weight.requires_grad_(True)
    upstream = [torch.randn(batch, c_out, height, width, dtype=torch.float64, generator=gen) for _ in rates]

    expected = reference(x, weight, rates)
    got = shared_kernel_taps(x, weight, rates)
    assert len(got) == len(rates)
    for e, g in zip(expected, got):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)
    for e, g in zip(grads(expected, upstream, x, weight), grads(got, upstream, x, weight)):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


def test_chunked_batches_and_bf16_autocast_give_the_same_function(monkeypatch):
    from ksac_cli.models.heads import taps

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 4, 9, 11, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(3, 4, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    whole = shared_kernel_taps(x, weight, (2, 5))
    g_whole = torch.autograd.grad(sum(o.sum() for o in whole), (x, weight))
    monkeypatch.setattr(taps, "CHUNK_BYTES", 1)  # one image per chunk
    parts = shared_kernel_taps(x, weight, (2, 5))
    g_parts = torch.autograd.grad(sum(o.sum() for o in parts), (x, weight))
    for a, b in zip(whole + list(g_whole), parts + list(g_parts)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

    xf, wf = x.detach().float().requires_grad_(), weight.detach().float().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = shared_kernel_taps(xf, wf, (2, 5))
    assert all(o.dtype == torch.bfloat16 for o in low)
    g_x, g_w = torch.autograd.grad(sum(o.float().sum() for o in low), (xf, wf))
    assert g_x.dtype == torch.float32 and g_w.dtype == torch.float32
    for a, b in zip(low, whole):
        torch.testing.assert_close(a.double(), b, rtol=5e-2, atol=2e-1)
    torch.testing.assert_close(g_w.double(), g_whole[1], rtol=5e-2, atol=1.0)


def test_taps_pass_gradcheck():
    x = torch.randn(1, 3, 6, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, w: shared_kernel_taps(a, w, (1, 4)), (x, weight))


def test_only_some_rates_used_still_gives_gradients():
    """A branch whose output does not reach the loss (its gradient is None) is skipped, not an error."""
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    got = shared_kernel_taps(x, weight, (1, 2, 3))
    expected = reference(x, weight, (1, 2, 3))
    g_got = torch.autograd.grad(got[1].sum(), (x, weight))
    g_exp = torch.autograd.grad(expected[1].sum(), (x, weight))
    for e, g in zip(g_exp, g_got):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("merge", ["concat", "sum"])
def test_ksac_heads_with_either_impl_share_state_and_outputs(merge):
    """Same parameters, so a state dict moves between impls; float32 outputs and gradients agree
    (training mode: batch statistics; no dropout, whose masks would differ)."""
    torch.manual_seed(0)
    conv = KSAC(16, (2, 4, 6), 8, merge=merge, dropout=0.0, ksac_impl="conv")
    taps = KSAC(16, (2, 4, 6), 8, merge=merge, dropout=0.0, ksac_impl="taps")
    taps.load_state_dict(conv.state_dict())
    x = torch.randn(2, 16, 11, 11)
    out_conv, out_taps = conv(x), taps(x)
    torch.testing.assert_close(out_taps, out_conv, rtol=1e-4, atol=1e-5)
    out_conv.square().sum().backward()
    out_taps.square().sum().backward()
    torch.testing.assert_close(taps.weight.grad, conv.weight.grad, rtol=1e-3, atol=1e-4)


def test_unknown_impl_is_rejected():
    with pytest.raises(ValueError, match="impl"):
        KSAC(8, (1, 2), 4, ksac_impl="fft")
