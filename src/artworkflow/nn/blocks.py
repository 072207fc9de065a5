"""Building blocks shared by the networks: reflect-padded convolutions, norms, residual blocks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .norm import AdaIN, LayerNorm


def conv_block(cin: int, cout: int, k: int, stride: int = 1, norm: str = "in",
               act: str = "relu") -> nn.Sequential:
    """Reflect-padded conv + norm + activation. A conv followed by instance norm has no bias: the norm
    removes it, so it would only collect float noise (which Adam then turns into steps of size lr)."""
    layers: list[nn.Module] = [nn.ReflectionPad2d((k - 1) // 2) if k > 1 else nn.Identity(),
                               nn.Conv2d(cin, cout, k, stride, bias=norm != "in")]
    if norm == "in":
        layers.append(nn.InstanceNorm2d(cout))
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
    """Residual block whose two norms take their scale and bias from the AdaIN vector.

    The block's first normalised convolution sees only the block's input, not the vector, so
    ``forward`` is written as that part (``normalized_first``) followed by the rest
    (``from_normalized_first``): editing computes the first once for a fixed content code."""

    def __init__(self, channels: int):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(channels, channels, 3, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, bias=False)
        self.adain = AdaIN()

    def normalized_first(self, x: torch.Tensor) -> torch.Tensor:
        return self.adain.normalize(self.conv1(self.pad(x)))

    def from_normalized_first(self, x: torch.Tensor, first: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        s1, b1, s2, b2 = params.chunk(4, dim=1)
        h = F.relu(self.adain.modulate(first, s1, b1))
        return x + self.adain(self.conv2(self.pad(h)), s2, b2)

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return self.from_normalized_first(x, self.normalized_first(x), params)
