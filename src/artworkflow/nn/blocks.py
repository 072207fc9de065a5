"""Building blocks shared by the networks: reflect-padded convolutions, norms, residual blocks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """Per-sample normalisation over (C, H, W) with a per-channel affine, as in MUNIT's decoder."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std, mean = torch.std_mean(x, dim=tuple(range(1, x.dim())), keepdim=True)
        scale = self.gamma.to(x.dtype).view(1, -1, 1, 1) / (std + self.eps)
        return torch.addcmul(self.beta.to(x.dtype).view(1, -1, 1, 1) - mean * scale, x, scale)


def adain(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance norm: normalise each channel, then apply the per-sample scale and bias, as one
    multiply-add with the statistics folded in."""
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    a = scale[:, :, None, None].to(x.dtype) * torch.rsqrt(var + eps)
    return torch.addcmul(bias[:, :, None, None].to(x.dtype) - mean * a, x, a)


class InstanceNorm(nn.InstanceNorm2d):
    """Parameter-free instance norm that keeps the input's memory format: ``F.instance_norm`` returns
    NCHW, which makes oneDNN reorder every channels-last activation before the next convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        a = torch.rsqrt(var + self.eps)
        return torch.addcmul(-mean * a, x, a)


class ReflectionPad(nn.ReflectionPad2d):
    """Reflect padding in the input's dtype. CPU autocast lists reflection padding as a float32 op, so
    under bf16 every padded activation would be upcast and then cast back by the next convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.pad(x, self.padding, mode="reflect")


def conv_block(cin: int, cout: int, k: int, stride: int = 1, norm: str = "in",
               act: str = "relu") -> nn.Sequential:
    """Reflect-padded conv + norm + activation. A conv followed by instance norm has no bias: the norm
    removes it, so it would only collect float noise (which Adam then turns into steps of size lr)."""
    layers: list[nn.Module] = [ReflectionPad((k - 1) // 2) if k > 1 else nn.Identity(),
                               nn.Conv2d(cin, cout, k, stride, bias=norm != "in")]
    if norm == "in":
        layers.append(InstanceNorm(cout))
    elif norm == "ln":
        layers.append(LayerNorm(cout))
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "lrelu":
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    elif act == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """Two 3×3 convs with instance norm and an identity shortcut."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_block(channels, channels, 3),
                                  conv_block(channels, channels, 3, act="none"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class AdaINResBlock(nn.Module):
    """Residual block whose two norms take their scale and bias from the AdaIN vector."""

    def __init__(self, channels: int):
        super().__init__()
        self.pad = ReflectionPad(1)
        self.conv1 = nn.Conv2d(channels, channels, 3, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, bias=False)

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        s1, b1, s2, b2 = params.chunk(4, dim=1)
        h = F.relu(adain(self.conv1(self.pad(x)), s1, b1))
        h = adain(self.conv2(self.pad(h)), s2, b2)
        return x + h
