"""Normalisation layers. Instance norm and AdaIN use torch's kernel on NCHW tensors. On channels-last
tensors, where ``F.instance_norm`` returns NCHW (so oneDNN would reorder every activation before
the next convolution), they run as one autograd function that keeps the memory format and dtype:
float32 statistics from two passes (mean, then the mean square of the centred values; one-pass
E[x²] - E[x]² loses every digit when a channel is nearly constant, as on the white areas of a
sketch) and a hand-written backward of two reductions and one multiply-add, several times faster
than the autograd of the same formula."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


def _stats_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def _instance_norm(x: torch.Tensor, scale: torch.Tensor | None, bias: torch.Tensor | None,
                   eps: float) -> torch.Tensor:
    if x.is_contiguous():
        y = F.instance_norm(x, eps=eps)
        if scale is None:
            return y
        return torch.addcmul(bias[:, :, None, None].to(y.dtype), y, scale[:, :, None, None].to(y.dtype))
    return _ChannelsLastInstanceNorm.apply(x, scale, bias, eps)


class _ChannelsLastInstanceNorm(torch.autograd.Function):
    """y = (x - mean) · rstd per sample and channel, then ``scale · y + bias`` if a scale is given."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor | None, bias: torch.Tensor | None,
                eps: float) -> torch.Tensor:
        n, c, h, w = x.shape
        acc = _stats_dtype(x)
        mean = x.mean((2, 3), keepdim=True, dtype=acc)
        centred = x - mean.to(x.dtype)
        rstd = torch.rsqrt(centred.square().mean((2, 3), keepdim=True, dtype=acc) + eps)
        y = centred.mul_(rstd.to(x.dtype))
        k = rstd if scale is None else rstd * scale.to(acc).view(n, c, 1, 1)
        ctx.save_for_backward(x, mean, rstd, k)
        if scale is None:
            return y
        return torch.addcmul(bias.view(n, c, 1, 1).to(x.dtype), y, scale.view(n, c, 1, 1).to(x.dtype))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, mean, rstd, k = ctx.saved_tensors
        n, c, h, w = x.shape
        y = torch.addcmul((-mean * rstd).to(x.dtype), x, rstd.to(x.dtype))
        g_sum = grad.sum((2, 3), keepdim=True, dtype=k.dtype)
        gy_sum = (grad * y).sum((2, 3), keepdim=True, dtype=k.dtype)
        dx = torch.addcmul((-k * g_sum / (h * w)).to(grad.dtype), grad, k.to(grad.dtype))
        dx.addcmul_(y, (-k * gy_sum / (h * w)).to(grad.dtype))
        scale_needed, bias_needed = ctx.needs_input_grad[1:3]
        return (dx, gy_sum.view(n, c) if scale_needed else None, g_sum.view(n, c) if bias_needed else None,
                None)


def adain(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance norm: normalise each channel, then apply the per-sample scale and bias (N, C)."""
    return _instance_norm(x, scale, bias, eps)


class InstanceNorm(nn.InstanceNorm2d):
    """Parameter-free instance norm (the ``nn.InstanceNorm2d`` configuration it replaces)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _instance_norm(x, None, None, self.eps)


class LayerNorm(nn.Module):
    """Per-sample normalisation over (C, H, W) by the unbiased standard deviation plus eps, with a
    per-channel affine, as in MUNIT's decoder."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std, mean = torch.std_mean(x, dim=tuple(range(1, x.dim())), keepdim=True)
        scale = self.gamma.to(x.dtype).view(1, -1, 1, 1) / (std + self.eps)
        return torch.addcmul(self.beta.to(x.dtype).view(1, -1, 1, 1) - mean * scale, x, scale)
