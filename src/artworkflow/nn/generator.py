"""The generation network G_i: a MUNIT-style content encoder and an AdaIN decoder, driven by a
stage latent z through an MLP that produces the AdaIN vector (one scale and bias per channel)."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .blocks import AdaINResBlock, ResBlock, conv_block


class MappingMLP(nn.Module):
    """z (nz) → AdaIN vector (adain_dim); three linear layers as in MUNIT."""

    def __init__(self, nz: int, hidden: int, out: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class PreparedContent(NamedTuple):
    """What decoding needs of a content code before it sees an AdaIN vector: the code and the first
    AdaIN block's normalised first convolution of it. Editing tries hundreds of vectors on one
    content code and prepares it once."""

    code: torch.Tensor
    first: torch.Tensor


class AdaINGenerator(nn.Module):
    """x_i, z → x_{i+1}. The content path is separate from the decoder so that editing can encode
    the input once and then optimise only the AdaIN vector."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, nz: int = 8,
                 n_res: int = 4, mlp_dim: int = 256):
        super().__init__()
        w = width
        self.content = nn.Sequential(
            conv_block(in_channels, w, 7),
            conv_block(w, 2 * w, 4, stride=2),
            conv_block(2 * w, 4 * w, 4, stride=2),
            *[ResBlock(4 * w) for _ in range(n_res)],
        )
        self.res = nn.ModuleList(AdaINResBlock(4 * w) for _ in range(n_res))
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), conv_block(4 * w, 2 * w, 5, norm="ln"),
            nn.Upsample(scale_factor=2, mode="nearest"), conv_block(2 * w, w, 5, norm="ln"),
            conv_block(w, out_channels, 7, norm="none", act="tanh"),
        )
        self.mlp = MappingMLP(nz, mlp_dim, 2 * n_res * 2 * 4 * w)
        self.nz = nz

    @property
    def adain_dim(self) -> int:
        return self.mlp.net[-1].out_features

    def encode_content(self, x: torch.Tensor) -> torch.Tensor:
        return self.content(x)

    def adain_vector(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z)

    def prepare(self, content: torch.Tensor) -> PreparedContent:
        return PreparedContent(content, self.res[0].normalized_first(content))

    def decode_prepared(self, prepared: PreparedContent, adain: torch.Tensor) -> torch.Tensor:
        """``decode`` of a prepared content code."""
        params = adain.chunk(len(self.res), dim=1)
        h = self.res[0].from_normalized_first(prepared.code, prepared.first, params[0])
        for block, p in zip(self.res[1:], params[1:]):
            h = block(h, p)
        return self.up(h)

    def decode(self, content: torch.Tensor, adain: torch.Tensor) -> torch.Tensor:
        """Render from a content code and an AdaIN vector laid out as [block][s1, b1, s2, b2][C]."""
        return self.decode_prepared(self.prepare(content), adain)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode_content(x), self.adain_vector(z))
