"""The normalisations of the networks, as the papers write them: AdaIN (an instance norm whose scale
and bias come from the AdaIN vector) and MUNIT's layer norm. Plain instance norm is
``nn.InstanceNorm2d``. Faster kernels of the same functions live in ``artworkflow.accel.norm``."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AdaIN(nn.Module):
    """Adaptive instance norm: normalise each channel of each sample, then apply that sample's own
    scale and bias (N, C). Has no weights; the two halves are separate so that a decoder can
    normalise an input that never changes once and modulate it many times."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, eps=self.eps)

    def modulate(self, y: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return y * scale[:, :, None, None] + bias[:, :, None, None]

    def forward(self, x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.modulate(self.normalize(x), scale, bias)


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
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return self.gamma.view(shape) * (x - mean) / (std + self.eps) + self.beta.view(shape)
