"""The workflow-inference network G^I_i: a U-Net (instance norm, bilinear upsampling, reflect
padding) mapping stage i+1 back to stage i. As the published ``unet_256`` it halves down to a 1×1
bottleneck at full depth, which is why the innermost layer has no instance norm (over one pixel it
would output zeros); ``bottleneck_norm`` keeps it for shallower nets whose bottleneck is wider."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import conv_block


class UNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int = 64, depth: int = 8,
                 bottleneck_norm: bool = False):
        super().__init__()
        chans = [width * min(2 ** k, 8) for k in range(depth)]
        self.down = nn.ModuleList()
        for k, c in enumerate(chans):
            cin = in_channels if k == 0 else chans[k - 1]
            plain = k == 0 or (k == depth - 1 and not bottleneck_norm)
            self.down.append(conv_block(cin, c, 4, stride=2, norm="none" if plain else "in", act="lrelu"))
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
