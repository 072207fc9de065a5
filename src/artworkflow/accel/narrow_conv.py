"""Convolutions with few output channels: the image-producing last layers and the PatchGAN logits.

The input gradient of a stride-1 convolution is a full correlation of the output gradient with the
flipped kernel, i.e. an ordinary forward convolution. oneDNN's backward-data kernels tile over
output channels, so with 1–3 of them (bf16 on AMX) they run an order of magnitude slower than the
same arithmetic phrased as that forward convolution; this layer does the rewrite. Same weights and
state-dict keys as ``nn.Conv2d``; equal to it up to float rounding. ``narrow_eligible`` says which
convolutions ``accelerate`` gives it to."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .layout import memory_format

NARROW = 4
"""Up to this many output channels a stride-1 convolution takes the rewritten backward."""


class _NarrowConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.has_bias = padding, bias is not None
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        p, k = ctx.padding, weight.shape[-1]
        fmt = memory_format(x)
        grad = grad.contiguous(memory_format=fmt)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            flipped = weight.flip(2, 3).transpose(0, 1).contiguous(memory_format=fmt)
            dx = F.conv2d(F.pad(grad, (k - 1 - p,) * 4), flipped)
        if ctx.needs_input_grad[1] or (ctx.has_bias and ctx.needs_input_grad[2]):
            _, dw, db = torch.ops.aten.convolution_backward(
                grad, x, weight, [weight.shape[0]] if ctx.has_bias else None, [1, 1], [p, p], [1, 1], False,
                [0, 0], 1, [False, ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]])
        return dx, dw, db, None


def narrow_eligible(conv: nn.Module) -> bool:
    """A square, stride-1, ungrouped, zero-padded ``nn.Conv2d`` with at most ``NARROW`` outputs."""
    k = conv.kernel_size[0] if isinstance(conv, nn.Conv2d) else 0
    return (type(conv) is nn.Conv2d and conv.out_channels <= NARROW and conv.kernel_size == (k, k)
            and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple)
            and conv.padding[0] == conv.padding[1] < k)


class NarrowConv2d(nn.Conv2d):
    """A square, stride-1, zero-padded ``nn.Conv2d`` with at most ``NARROW`` outputs."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 bias: bool = True):
        if out_channels > NARROW or padding > kernel_size - 1:
            raise ValueError(f"NarrowConv2d takes <= {NARROW} outputs and padding < kernel size")
        super().__init__(in_channels, out_channels, kernel_size, 1, padding, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if not torch.is_grad_enabled() or not (x.requires_grad or self.weight.requires_grad):
            return super().forward(x)
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
        with torch.autocast(x.device.type, enabled=False):
            bias = None if self.bias is None else self.bias.to(dtype)
            return _NarrowConv.apply(x.to(dtype), self.weight.to(dtype), bias, self.padding[0])
