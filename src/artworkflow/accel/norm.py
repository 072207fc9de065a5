"""Layout- and dtype-keeping kernels of the normalisations in ``artworkflow.nn.norm``.

On channels-last tensors ``F.instance_norm`` returns NCHW, so oneDNN would reorder every
activation before the next convolution; here instance norm and AdaIN run as one autograd function
that keeps the memory format and dtype: float32 statistics from two passes (mean, then the mean
square of the centred values; one-pass E[x²] - E[x]² loses every digit when a channel is nearly
constant, as on the white areas of a sketch) and a hand-written backward of two reductions and one
multiply-add, several times faster than the autograd of the same formula. NCHW tensors keep torch's
kernel. LayerNorm is built the same way, on every layout: the autograd of ``std_mean`` returns NCHW
gradients. Under autocast the results stay in the activation's dtype (bf16), so scales and biases
do not promote the activations to float32 between convolutions."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ..nn.norm import AdaIN, LayerNorm


def _stats_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def stat_sum(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Sum over ``dims`` (kept) in the statistics dtype. bf16 inputs are summed in their own dtype (torch accumulates
    them in float32 and rounds once at the end): asking for a float32 result instead makes torch cast
    the whole tensor first, a full extra pass over memory. float16 sums could overflow its range, so
    they take that pass."""
    if x.dtype == torch.float16:
        return x.sum(dims, keepdim=True, dtype=torch.float32)
    return x.sum(dims, keepdim=True).to(_stats_dtype(x))


def instance_norm(x: torch.Tensor, scale: torch.Tensor | None, bias: torch.Tensor | None,
                  eps: float) -> torch.Tensor:
    """``F.instance_norm(x)``, then ``scale · y + bias`` per (N, C) if a scale is given, in ``x``'s
    memory format."""
    if x.is_contiguous():
        y = F.instance_norm(x, eps=eps)
        return y if scale is None else modulate(y, scale, bias)
    return _ChannelsLastInstanceNorm.apply(x, scale, bias, eps)


def modulate(y: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``scale · y + bias`` per (N, C) in one pass, in ``y``'s dtype."""
    return torch.addcmul(bias[:, :, None, None].to(y.dtype), y, scale[:, :, None, None].to(y.dtype))


class _ChannelsLastInstanceNorm(torch.autograd.Function):
    """y = (x - mean) · rstd per sample and channel, then ``scale · y + bias`` if a scale is given."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor | None, bias: torch.Tensor | None,
                eps: float) -> torch.Tensor:
        n, c, h, w = x.shape
        acc = _stats_dtype(x)
        mean = stat_sum(x, (2, 3)) / (h * w)
        centred = x - mean.to(x.dtype)
        rstd = torch.rsqrt(stat_sum(centred.square(), (2, 3)) / (h * w) + eps)
        k = rstd if scale is None else rstd * scale.to(acc).view(n, c, 1, 1)
        ctx.save_for_backward(x, mean, rstd, k)
        if scale is None:
            return centred.mul_(k.to(x.dtype))
        return torch.addcmul(bias.view(n, c, 1, 1).to(x.dtype), centred, k.to(x.dtype))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, mean, rstd, k = ctx.saved_tensors
        n, c, h, w = x.shape
        y = torch.addcmul((-mean * rstd).to(x.dtype), x, rstd.to(x.dtype))
        g_sum = stat_sum(grad, (2, 3))
        gy_sum = stat_sum(grad * y, (2, 3))
        dx = torch.addcmul((-k * g_sum / (h * w)).to(grad.dtype), grad, k.to(grad.dtype))
        dx.addcmul_(y, (-k * gy_sum / (h * w)).to(grad.dtype))
        scale_needed, bias_needed = ctx.needs_input_grad[1:3]
        return (dx, gy_sum.view(n, c) if scale_needed else None, g_sum.view(n, c) if bias_needed else None,
                None)


class FastInstanceNorm(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (no affine, no running statistics) that keeps the memory format."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return instance_norm(x, None, None, self.eps)


class FastAdaIN(AdaIN):
    """``AdaIN`` that keeps the memory format and dtype, normalising and modulating in one pass."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return instance_norm(x, None, None, self.eps)

    def modulate(self, y: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return modulate(y, scale, bias)

    def forward(self, x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return instance_norm(x, scale, bias, self.eps)


class _LayerNorm(torch.autograd.Function):
    """y = gamma · (x - mean) / (std + eps) + beta per sample over (C, H, W), std unbiased, with
    two-pass float32 statistics and a hand-written backward that keeps the input's memory format."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
        n, c = x.shape[:2]
        count = x[0].numel()
        acc = _stats_dtype(x)
        dims = tuple(range(1, x.dim()))
        mean = stat_sum(x, dims) / count
        centred = x - mean.to(x.dtype)
        std = (stat_sum(centred.square(), dims) / (count - 1)).sqrt()
        inv = 1 / (std + eps)
        shape = (1, c) + (1,) * (x.dim() - 2)
        scale = gamma.to(acc).view(shape) * inv
        ctx.save_for_backward(centred, gamma, std, inv)
        return torch.addcmul(beta.view(shape).to(x.dtype), centred, scale.to(x.dtype))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        centred, gamma, std, inv = ctx.saved_tensors
        count = centred[0].numel()
        dims = tuple(range(1, centred.dim()))
        shape = (1, centred.shape[1]) + (1,) * (centred.dim() - 2)
        acc = inv.dtype
        gamma_b = gamma.to(acc).view(shape)
        g_nc = stat_sum(grad, dims[1:])
        gu_c = stat_sum(grad * centred, dims[1:])
        g_c = g_nc.sum(0).view(-1) if ctx.needs_input_grad[2] else None
        dgamma = (gu_c * inv).sum(0).view(-1) if ctx.needs_input_grad[1] else None
        gh_mean = (g_nc * gamma_b).sum(1, keepdim=True) / count
        ghu = (gu_c * gamma_b).sum(1, keepdim=True)
        # dx = (g·gamma - mean(g·gamma)) / d - u · Σ(g·gamma·u) / (d² (N - 1) std),  d = std + eps
        k_u = -ghu * inv * inv / ((count - 1) * std.clamp_min(torch.finfo(acc).tiny))
        dx = torch.addcmul((-gh_mean * inv).to(grad.dtype), grad, (gamma_b * inv).to(grad.dtype))
        dx.addcmul_(centred, k_u.to(grad.dtype))
        return dx, dgamma, g_c, None


class FastLayerNorm(LayerNorm):
    """``LayerNorm`` with float32 statistics and a backward that keeps the memory format."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LayerNorm.apply(x, self.gamma, self.beta, self.eps)
