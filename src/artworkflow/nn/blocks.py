"""Building blocks shared by the networks: reflect-padded convolutions, norms, residual blocks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .narrow_conv import NARROW, NarrowConv2d
from .norm import InstanceNorm, LayerNorm, adain


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
    conv = NarrowConv2d(cin, cout, k, bias=norm != "in") if cout <= NARROW and stride == 1 else \
        nn.Conv2d(cin, cout, k, stride, bias=norm != "in")
    layers: list[nn.Module] = [ReflectionPad((k - 1) // 2) if k > 1 else nn.Identity(), conv]
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
