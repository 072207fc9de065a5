"""The workflow-inference network G^I_i: a U-Net (instance norm, bilinear upsampling, reflect
padding) mapping stage i+1 back to stage i."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import conv_block


class UNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int = 64, depth: int = 5):
        super().__init__()
        chans = [width * min(2 ** k, 8) for k in range(depth)]
        self.down = nn.ModuleList()
        for k, c in enumerate(chans):
            cin = in_channels if k == 0 else chans[k - 1]
            self.down.append(conv_block(cin, c, 4, stride=2, norm="none" if k == 0 else "in", act="lrelu"))
        self.up = nn.ModuleList()
        for k in range(depth - 1, 0, -1):
            cin = chans[k] if k == depth - 1 else 2 * chans[k]
            self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                         conv_block(cin, chans[k - 1], 3)))
        self.out = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                 conv_block(2 * chans[0] if depth > 1 else chans[0], out_channels, 3,
                                            norm="none", act="tanh"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()
        for layer in self.up:
            x = torch.cat([layer(x), skips.pop()], dim=1)
        return self.out(x)
