"""Memory-layout helpers for channels-last training.

A gradient that reaches a channels-last activation in NCHW order makes every elementwise kernel
that meets it stride across memory (several times slower than a matched pair), and the layout
spreads backwards through residual sums. Index-based ops (``index_select``, slicing) build their
input gradients as fresh NCHW tensors; ``grad_in_layout`` puts such a gradient back in the
activation's layout at the one place it enters."""
from __future__ import annotations

import torch
from torch import Tensor


def memory_format(x: Tensor) -> torch.memory_format:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class _GradInLayout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.fmt = memory_format(x)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous(memory_format=ctx.fmt)


def grad_in_layout(x: Tensor) -> Tensor:
    """``x`` itself; its gradient through this use is returned in ``x``'s memory format."""
    return _GradInLayout.apply(x) if x.requires_grad else x
