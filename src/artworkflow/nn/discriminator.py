"""Multi-scale PatchGAN discriminator (hinge loss): the second scale sees a 3×3/2 average-pooled
input with half the width."""
from __future__ import annotations

import torch
from torch import nn


def patchgan(in_channels: int, width: int, n_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c = width
    for n in range(1, n_layers + 1):
        cout = width * min(2 ** n, 8)
        stride = 2 if n < n_layers else 1
        layers += [nn.Conv2d(c, cout, 4, stride, 1, bias=False), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2, True)]
        c = cout
    layers.append(nn.Conv2d(c, 1, 4, padding=1))
    return nn.Sequential(*layers)


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, in_channels: int, width: int = 64, n_layers: int = 3, n_scales: int = 2):
        super().__init__()
        self.scales = nn.ModuleList(patchgan(in_channels, max(1, round(width / 2 ** i)), n_layers)
                                    for i in range(n_scales))
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, net in enumerate(self.scales):
            if i:
                x = self.pool(x)
            outs.append(net(x))
        return outs
