"""The latent encoder E_i: a ResNet that maps the next-stage image to a Gaussian over z (mu, logvar).
Global average pooling makes it work at every resolution.

The published encoder normalises each residual block's input per instance. That removes every
channel's spatial mean, i.e. an image's global colours, which are exactly what a flat-colour stage's
latent has to carry; they then reach mu only through the 1×1 shortcuts. ``norm=False`` drops those
norms (the small presets do: on toy faces the flat stage's encoded latents then differ between items
about ten times more after the same training)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DownBlock(nn.Module):
    """Pre-activation residual block that halves the resolution (BicycleGAN's encoder block)."""

    def __init__(self, cin: int, cout: int, norm: bool = True):
        super().__init__()
        n = nn.InstanceNorm2d if norm else (lambda c: nn.Identity())
        self.body = nn.Sequential(
            n(cin), nn.LeakyReLU(0.2), nn.Conv2d(cin, cin, 3, padding=1, bias=False),
            n(cin), nn.LeakyReLU(0.2), nn.Conv2d(cin, cout, 3, padding=1),
            nn.AvgPool2d(2),
        )
        self.skip = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class LatentEncoder(nn.Module):
    def __init__(self, in_channels: int, nz: int = 8, width: int = 64, n_blocks: int = 4, max_mult: int = 4,
                 norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1)]
        for n in range(1, n_blocks + 1):
            layers.append(DownBlock(width * min(max_mult, n), width * min(max_mult, n + 1), norm))
        self.features = nn.Sequential(*layers)
        out = width * min(max_mult, n_blocks + 1)
        self.mu = nn.Linear(out, nz)
        self.logvar = nn.Linear(out, nz)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.features(x), 0.2).mean(dim=(2, 3))
        return self.mu(h), self.logvar(h)
