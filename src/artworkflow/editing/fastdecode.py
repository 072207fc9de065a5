"""A faster rendering path for the many decodes of AdaIN optimisation and interactive editing.

Two exact rewrites of ``AdaINGenerator.decode`` for a fixed content code:

* the first convolution of the first AdaIN block sees only the content code, so its instance-normalised
  output is computed once;
* a nearest ×2 upsample followed by a reflect-padded 5×5 convolution equals four 3×3 convolutions on the
  low-resolution map (one per output phase, taps summed), interleaved by a pixel shuffle — 36 instead of
  100 multiply-adds per output pixel. Reflect padding of the upsampled map differs from any padding of
  the small one only on the outermost output rows and columns; those are recomputed with the original
  5×5 kernel on thin strips.

Results match ``decode`` to float rounding (summing taps reorders additions), not bit for bit.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.generator import AdaINGenerator

# Which of the five taps of a 5×5 kernel fall on the low-resolution rows i-1, i, i+1 for even (0)
# and odd (1) output rows of a nearest ×2 upsample.
_TAPS = torch.tensor([[[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]],
                      [[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1]]], dtype=torch.float64)


def phase_weights(weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """(Cout, Cin, 5, 5) → (4·Cout, Cin, 3, 3) in pixel-shuffle channel order (c, row phase, col phase)."""
    cout, cin = weight.shape[:2]
    k = torch.einsum("pak,oikl,qbl->opqiab", _TAPS, weight.double(), _TAPS)
    k = k.reshape(4 * cout, cin, 3, 3).to(weight.dtype)
    return k, (bias.repeat_interleave(4) if bias is not None else None)


def _reflect_upsampled_index(n: int, device: torch.device) -> Tensor:
    """For each column of the reflect-padded (by 2) ×2-upsampled axis, its low-resolution source."""
    j = torch.arange(-2, 2 * n + 2, device=device)
    j = torch.where(j < 0, -j, j)
    j = torch.where(j > 2 * n - 1, 2 * (2 * n - 1) - j, j)
    return j // 2


class _UpConv:
    """nearest ×2 → reflect pad 2 → conv 5×5, as phase convolutions plus exact borders."""

    def __init__(self, conv: nn.Conv2d):
        self.weight, self.bias = conv.weight.detach(), None if conv.bias is None else conv.bias.detach()
        self.phase_weight, self.phase_bias = phase_weights(self.weight, self.bias)
        self._index: dict[tuple[int, int, torch.device], tuple[Tensor, Tensor, Tensor, Tensor]] = {}

    def _indices(self, h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        key = (h, w, device)
        if key not in self._index:
            rows, cols = _reflect_upsampled_index(h, device), _reflect_upsampled_index(w, device)
            self._index[key] = (rows, cols, torch.cat([rows[:5], rows[-5:]]), torch.cat([cols[:5], cols[-5:]]))
        return self._index[key]

    def __call__(self, v: Tensor) -> Tensor:
        h, w = v.shape[-2:]
        weight, pw = self.weight.to(v.dtype), self.phase_weight.to(v.dtype)
        bias = None if self.bias is None else self.bias.to(v.dtype)
        pb = None if self.phase_bias is None else self.phase_bias.to(v.dtype)
        y = F.pixel_shuffle(F.conv2d(F.pad(v, (1, 1, 1, 1), mode="replicate"), pw, pb), 2)
        rows, cols, edge_rows, edge_cols = self._indices(h, w, v.device)
        top_bottom = F.conv2d(v.index_select(2, edge_rows).index_select(3, cols), weight, bias, stride=(5, 1))
        left_right = F.conv2d(v.index_select(2, rows).index_select(3, edge_cols), weight, bias, stride=(1, 5))
        y[:, :, 0::2 * h - 1, :] = top_bottom
        y[:, :, :, 0::2 * w - 1] = left_right
        return y


def _is_upsample2(m: nn.Module) -> bool:
    return isinstance(m, nn.Upsample) and m.mode == "nearest" and m.scale_factor in (2, 2.0, (2.0, 2.0))


def _is_reflect_conv5(m: nn.Module) -> bool:
    return (isinstance(m, nn.Sequential) and len(m) >= 2 and isinstance(m[0], nn.ReflectionPad2d)
            and tuple(m[0].padding) == (2, 2, 2, 2) and isinstance(m[1], nn.Conv2d)
            and m[1].kernel_size == (5, 5) and m[1].stride == (1, 1) and m[1].groups == 1
            and m[1].dilation == (1, 1) and m[1].padding == (0, 0))


def _upsampling_path(up: nn.Sequential) -> list[Callable[[Tensor], Tensor]]:
    """The decoder tail as callables, with each upsample + 5×5 block replaced by its fast form."""
    mods, out, i = list(up), [], 0
    while i < len(mods):
        if i + 1 < len(mods) and _is_upsample2(mods[i]) and _is_reflect_conv5(mods[i + 1]):
            rest = nn.Sequential(*list(mods[i + 1])[2:])
            out += [_UpConv(mods[i + 1][1]), rest]
            i += 2
        else:
            out.append(mods[i])
            i += 1
    return out


def _scale_bias(params: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return tuple(p[:, :, None, None] for p in params.chunk(4, dim=1))  # type: ignore[return-value]


def prepare_decoder(generator: AdaINGenerator, content: Tensor) -> Callable[[Tensor], Tensor]:
    """``adain -> image`` for a fixed content code, equal to ``generator.decode(content, adain)``.
    Constant work (the first block's first convolution and the phase kernels) happens here, once."""
    first = generator.res[0]
    with torch.no_grad():
        norm1 = F.instance_norm(first.conv1(first.pad(content)), eps=1e-5)
    tail = _upsampling_path(generator.up)
    blocks = list(generator.res)

    def decode(adain: Tensor) -> Tensor:
        chunks = adain.chunk(len(blocks), dim=1)
        s1, b1, s2, b2 = _scale_bias(chunks[0])
        h = F.relu(norm1.to(s1.dtype) * s1 + b1)
        h = F.instance_norm(first.conv2(first.pad(h)), eps=1e-5) * s2 + b2
        h = content.to(h.dtype) + h
        for block, params in zip(blocks[1:], chunks[1:]):
            h = block(h, params)
        for f in tail:
            h = f(h)
        return h

    return decode
