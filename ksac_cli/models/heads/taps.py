"""Tap reuse: the shared 3x3 kernel's dilated convolutions at every rate for the price of one convolution.

For a kernel W (C_out, C_in, 3, 3) the dilated convolution at rate r is

    y_r(i, j) = sum over taps (ky, kx) of  W[:, :, ky, kx] @ x(i + r*(ky-1), j + r*(kx-1))   (zero outside).

The 9 products P_t = W[:, :, ky, kx] @ x do not depend on r, so they are computed once, as ONE 1x1
convolution with 9*C_out outputs; then y_r is the sum of the 9 maps P_t shifted by (r*(ky-1), r*(kx-1)),
with zero fill (paper.md, "Compute: where KSAC can really save FLOPs"). The multiply-adds are those of one
convolution whatever the number of rates; what is left is 8 shifted adds per rate (the centre tap needs no
shift), memory-bound and done in place on overlapping rectangles: nothing is padded, nothing is copied
per tap. The backward of the shifted sum is the same sum with the shifts reversed, written out in
`ShiftedTapSum.backward` so autograd does not materialise one zero-filled map per tap and rate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TAPS = [(ky, kx) for ky in range(3) for kx in range(3)]  # tap t = 3*ky + kx, like the kernel's layout
CENTRE = 4


def overlap(shift: int, size: int) -> tuple[slice, slice] | None:
    """(output rows, input rows) where out[i] takes in[i + shift]; None when the shift leaves the map."""
    if abs(shift) >= size:
        return None
    return slice(max(0, -shift), size - max(0, shift)), slice(max(0, shift), size + min(0, shift))


def add_shifted(out: torch.Tensor, products: torch.Tensor, rate: int, reverse: bool = False) -> None:
    """out += sum over the 8 off-centre taps of products[:, t] shifted by rate * (ky-1, kx-1), in place.

    products: (B, 9, C, H, W) (any strides); out: (B, C, H, W). With reverse=True it computes the adjoint:
    products[:, t] += out shifted the other way (the backward pass)."""
    height, width = out.shape[-2:]
    for t, (ky, kx) in enumerate(TAPS):
        if t == CENTRE:
            continue
        rows = overlap(rate * (ky - 1), height)
        cols = overlap(rate * (kx - 1), width)
        if rows is None or cols is None:
            continue  # this tap only ever reads the zero padding at this rate
        (out_rows, in_rows), (out_cols, in_cols) = rows, cols
        if reverse:
            products[:, t, :, in_rows, in_cols] += out[..., out_rows, out_cols]
        else:
            out[..., out_rows, out_cols] += products[:, t, :, in_rows, in_cols]


class ShiftedTapSum(torch.autograd.Function):
    """products (B, 9, C, H, W) -> one (B, C, H, W) map per rate: the 9 taps shifted by the rate, summed."""

    @staticmethod
    def forward(ctx, products: torch.Tensor, rates: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
        ctx.rates = rates
        outputs = []
        for rate in rates:
            out = products[:, CENTRE].clone(memory_format=torch.preserve_format)
            add_shifted(out, products, rate)
            outputs.append(out)
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor | None) -> tuple[torch.Tensor | None, None]:
        grad_products = None
        for rate, grad in zip(ctx.rates, grads, strict=True):
            if grad is None:
                continue
            if grad_products is None:
                shape = (grad.shape[0], 9, *grad.shape[1:])
                grad_products = grad.new_zeros(shape)
            grad_products[:, CENTRE] += grad
            add_shifted(grad, grad_products, rate, reverse=True)
        return grad_products, None


def tap_products(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, C_in, H, W) x (C_out, C_in, 3, 3) -> (B, 9, C_out, H, W): every tap's 1x1 product, one conv."""
    c_out, c_in = weight.shape[:2]
    stacked = weight.permute(2, 3, 0, 1).reshape(9 * c_out, c_in, 1, 1)  # tap-major: [t*C_out + o]
    products = F.conv2d(x, stacked)
    return products.unflatten(1, (9, c_out))


def shared_kernel_taps(x: torch.Tensor, weight: torch.Tensor, rates: tuple[int, ...]) -> list[torch.Tensor]:
    """Equal (up to float rounding) to [conv2d(x, weight, padding=r, dilation=r) for r in rates]."""
    return list(ShiftedTapSum.apply(tap_products(x, weight), tuple(rates)))

