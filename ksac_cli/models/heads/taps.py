"""Tap reuse: the shared 3x3 kernel's dilated convolutions at every rate for the price of one convolution.

For a kernel W (C_out, C_in, 3, 3) the dilated convolution at rate r is

    y_r(i, j) = sum over taps (ky, kx) of  W[:, :, ky, kx] @ x(i + r*(ky-1), j + r*(kx-1))   (zero outside).

The 9 products P_t = W[:, :, ky, kx] @ x do not depend on r, so they are computed once, as ONE 1x1
convolution with 9*C_out outputs; then y_r is the sum of the 9 maps P_t shifted by (r*(ky-1), r*(kx-1)),
with zero fill (paper.md, "Compute: where KSAC can really save FLOPs"; docs/profiling.md, "The shared kernel
computed once", describes this implementation and its written-out backward)."""

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


def stacked_taps(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, C_in, 3, 3) -> (9*C_out, C_in, 1, 1), tap-major ([t*C_out + o]): the 9 taps as one 1x1 conv."""
    c_out, c_in = weight.shape[:2]
    return weight.permute(2, 3, 0, 1).reshape(9 * c_out, c_in, 1, 1)


CHUNK_BYTES = 32 * 2**20  # tap products computed and summed at once: about what a CPU's caches hold


def chunks(batch: int, per_image_bytes: int) -> list[slice]:
    """Slices of the batch whose tap products stay within CHUNK_BYTES (at least one image each)."""
    step = max(1, CHUNK_BYTES // max(1, per_image_bytes))
    return [slice(i, min(i + step, batch)) for i in range(0, batch, step)]


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype autocast would give a convolution here (this Function runs its own convolutions)."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype


class SharedKernelTaps(torch.autograd.Function):
    """x (B, C_in, H, W), weight (C_out, C_in, 3, 3) -> one (B, C_out, H, W) map per rate. The tap products
    live only while their chunk of the batch is summed: never saved for backward (at batch 8, 65x65, 256
    channels the whole batch's would be 311 MB), which takes the reversed shifted sum of the gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, rates: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
        dtype = compute_dtype(x)
        xc, stacked = x.to(dtype), stacked_taps(weight).to(dtype)
        ctx.save_for_backward(xc, stacked)
        ctx.rates, ctx.dtypes = rates, (x.dtype, weight.dtype)
        batch, _, height, width = x.shape
        c_out = weight.shape[0]
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        layout = torch.channels_last if channels_last else torch.contiguous_format
        outputs = [torch.empty((batch, c_out, height, width), dtype=dtype, device=x.device, memory_format=layout)
                   for _ in rates]
        with torch.autocast(x.device.type, enabled=False):
            for part in chunks(batch, 9 * c_out * height * width * xc.element_size()):
                products = F.conv2d(xc[part], stacked).unflatten(1, (9, c_out))
                for out, rate in zip(outputs, rates):
                    view = out[part]
                    view.copy_(products[:, CENTRE])
                    add_shifted(view, products, rate)
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor | None):
        # Where the time goes (torch.profiler, 2048 -> 256 channels, 65x65, rates 6,12,18,24, fp32, 2-core
        # AVX2 CPU): the two matrix products (~90%, each one 1x1 convolution's multiply-adds, at the speed of
        # a plain GEMM of that size), the reversed shifted sum ~4%, zeroing the products' gradient ~2%.
        # So the products are never split (9 small GEMMs per tap were 6-20% slower), grad_w accumulates
        # image by image in place (addmm: no einsum permute), grad_x is the convolution's own output when
        # the batch is one chunk (no copy into a preallocated tensor).
        xc, stacked = ctx.saved_tensors
        x_dtype, w_dtype = ctx.dtypes
        batch, c_in, height, width = xc.shape
        c_out = stacked.shape[0] // 9
        need_x, need_w = ctx.needs_input_grad[:2]
        parts = chunks(batch, 9 * c_out * height * width * xc.element_size())
        grad_x = torch.empty_like(xc) if need_x and len(parts) > 1 else None
        accumulate = torch.float32 if xc.element_size() < 4 else xc.dtype  # bf16/fp16 sum in float32
        grad_w = torch.zeros(stacked.shape[:2], dtype=accumulate, device=xc.device) if need_w else None
        present = [(rate, g.to(xc.dtype)) for rate, g in zip(ctx.rates, grads) if g is not None]
        for part in parts:
            n = part.stop - part.start
            grad_products = xc.new_zeros((n, 9, c_out, height, width))
            for rate, grad in present:
                grad_products[:, CENTRE] += grad[part]
                add_shifted(grad[part], grad_products, rate, reverse=True)
            flat = grad_products.flatten(1, 2)  # (n, 9*C_out, H, W)
            if need_x:
                chunk_grad = F.conv2d(flat, stacked.transpose(0, 1))  # (n, C_in, H, W)
                if grad_x is None:
                    grad_x = chunk_grad
                else:
                    grad_x[part] = chunk_grad
            if need_w:
                for image in range(n):  # (9*C_out, H*W) @ (H*W, C_in), summed over the chunk's images
                    product = flat[image].flatten(1) @ xc[part.start + image].flatten(1).t()
                    grad_w += product if product.dtype == accumulate else product.to(accumulate)
        if need_w:
            grad_w = grad_w.reshape(3, 3, c_out, -1).permute(2, 3, 0, 1).to(w_dtype)
        return (None if grad_x is None else grad_x.to(x_dtype)), grad_w, None


def shared_kernel_taps(x: torch.Tensor, weight: torch.Tensor, rates: tuple[int, ...]) -> list[torch.Tensor]:
    """Equal (up to float rounding) to [conv2d(x, weight, padding=r, dilation=r) for r in rates]."""
    return list(SharedKernelTaps.apply(x, weight, tuple(rates)))
