"""The generator's upsampling step, nearest ×2 then a reflect-padded 5×5 convolution, computed on the
low-resolution map: each of the four output phases is a 3×3 convolution whose taps are sums of the
5×5 taps, interleaved into the output — 36 instead of 100 multiply-adds per output pixel, in
training as in editing. Reflect padding of the upsampled map differs from any padding of the small
one only on the outermost output rows and columns; those are recomputed with the 5×5 kernel on thin
strips. Equal to the plain form up to float rounding (summed taps reorder additions)."""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layout import grad_in_layout, memory_format
from .winograd import frozen_conv3x3, winograd_kernels, winograd_pays


def _fold_taps(w: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The 5 taps along ``dim`` folded onto the low-resolution offsets -1, 0, +1, for even and odd
    output positions of a nearest ×2 upsample: (k0+k1, k2+k3, k4) and (k0, k1+k2, k3+k4)."""
    k = w.unbind(dim)
    return (torch.stack([k[0] + k[1], k[2] + k[3], k[4]], dim),
            torch.stack([k[0], k[1] + k[2], k[3] + k[4]], dim))


def phase_weights(weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """(Cout, Cin, 5, 5) → (4·Cout, Cin, 3, 3), channels ordered (row phase, col phase, c), in the
    weight's memory format (a convolution would otherwise reorder the kernels at every call)."""
    cout, cin = weight.shape[:2]
    phases = [col for rows in _fold_taps(weight, 2) for col in _fold_taps(rows, 3)]
    k = torch.stack(phases, 0).reshape(4 * cout, cin, 3, 3).contiguous(memory_format=memory_format(weight))
    return k, (bias.repeat(4) if bias is not None else None)


def interleave_phases(z: Tensor) -> Tensor:
    """(N, 4C, H, W) with channels ordered (row phase, col phase, c) → (N, C, 2H, 2W), in ``z``'s
    memory format. With the phase outermost, a channels-last map interleaves by copying whole
    C-channel pixels, several times faster than ``pixel_shuffle`` on that layout."""
    n, c4, h, w = z.shape
    c = c4 // 4
    if memory_format(z) == torch.channels_last:
        pixels = z.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2, c).permute(0, 1, 3, 2, 4, 5)
        return pixels.reshape(n, 2 * h, 2 * w, c).permute(0, 3, 1, 2)
    return z.reshape(n, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, 2 * h, 2 * w)


def _reflect_upsampled_index(n: int, device: torch.device) -> Tensor:
    """For each position of the reflect-padded (by 2) ×2-upsampled axis, its low-resolution source."""
    j = torch.arange(-2, 2 * n + 2, device=device)
    j = torch.where(j < 0, -j, j)
    j = torch.where(j > 2 * n - 1, 2 * (2 * n - 1) - j, j)
    return j // 2


def upsample_conv5(x: Tensor, weight: Tensor, bias: Tensor | None,
                   phase_conv: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """``conv5x5(reflect_pad2(upsample_nearest2(x)))``. ``phase_conv`` may stand in for the
    unpadded convolution with ``phase_weights(weight, bias)`` when the weights are frozen (editing
    computes those kernels once)."""
    h, w = x.shape[-2:]
    with torch.autocast(x.device.type, enabled=False):
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    if phase_conv is None:
        pw, pb = phase_weights(weight, bias)
        phase_conv = functools.partial(F.conv2d, weight=pw, bias=pb)
    y = interleave_phases(phase_conv(padded))
    rows, cols = _reflect_upsampled_index(h, x.device), _reflect_upsampled_index(w, x.device)
    edge_rows, edge_cols = torch.cat([rows[:5], rows[-5:]]), torch.cat([cols[:5], cols[-5:]])
    src = grad_in_layout(x)
    top_bottom = F.conv2d(src.index_select(2, edge_rows).index_select(3, cols), weight, bias, stride=(5, 1))
    left_right = F.conv2d(src.index_select(3, edge_cols).index_select(2, rows), weight, bias, stride=(1, 5))
    y[:, :, 0::2 * h - 1, :] = top_bottom
    y[:, :, :, 0::2 * w - 1] = left_right
    return y


def is_upsample2(m: nn.Module) -> bool:
    return isinstance(m, nn.Upsample) and m.mode == "nearest" and m.scale_factor in (2, 2.0, (2.0, 2.0))


def is_reflect_conv5(m: nn.Module) -> bool:
    """A ``conv_block`` with a reflect-padded 5×5 stride-1 convolution at its head."""
    return (isinstance(m, nn.Sequential) and len(m) >= 2 and isinstance(m[0], nn.ReflectionPad2d)
            and tuple(m[0].padding) == (2, 2, 2, 2) and isinstance(m[1], nn.Conv2d)
            and m[1].kernel_size == (5, 5) and m[1].stride == (1, 1) and m[1].groups == 1
            and m[1].dilation == (1, 1) and m[1].padding == (0, 0))


def upsampling_heads(layers: nn.Sequential) -> tuple[int, ...]:
    """Positions of the nearest ×2 upsamples that a reflect-padded 5×5 ``conv_block`` follows."""
    mods = list(layers)
    return tuple(i for i in range(len(mods) - 1) if is_upsample2(mods[i]) and is_reflect_conv5(mods[i + 1]))


class UpsamplingPath(nn.Sequential):
    """The layers of a plain ``nn.Sequential`` (the very modules, so the same weights and state-dict
    keys) in which every nearest ×2 upsample followed by a reflect-padded 5×5 ``conv_block`` runs as
    ``upsample_conv5``, with the phase kernels folded from the weights at every call (they train)."""

    def __init__(self, plain: nn.Sequential):
        super().__init__(OrderedDict(plain.named_children()))
        self.heads = upsampling_heads(plain)
        self.train(plain.training)

    def upconv(self, i: int, x: Tensor) -> Tensor:
        """``self[i + 1][1](self[i + 1][0](self[i](x)))``: upsample, pad and convolve."""
        conv = self[i + 1][1]
        return upsample_conv5(x, conv.weight, conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        mods, i = list(self), 0
        while i < len(mods):
            if i in self.heads:
                x = self.upconv(i, x)
                for layer in list(mods[i + 1])[2:]:
                    x = layer(x)
                i += 2
            else:
                x = mods[i](x)
                i += 1
        return x


class FrozenUpsamplingPath(UpsamplingPath):
    """``UpsamplingPath`` of frozen weights: the phase kernels (and in float32, from 128 channels,
    their Winograd transforms) are made once, not saved, and made again when weights are loaded."""

    def __init__(self, plain: nn.Sequential):
        super().__init__(plain)
        for i in self.heads:
            for part in ("weight", "bias", "u", "u_grad"):
                self.register_buffer(f"phase{i}_{part}", None, persistent=False)
        self.fold()
        self.register_load_state_dict_post_hook(lambda module, _: module.fold())

    @torch.no_grad()
    def fold(self) -> None:
        """Derive the phase kernels from the current weights."""
        for i in self.heads:
            conv = self[i + 1][1]
            pw, pb = phase_weights(conv.weight, conv.bias)
            u, u_grad = winograd_kernels(pw) if winograd_pays(pw) else (None, None)
            for part, t in (("weight", pw), ("bias", pb), ("u", u), ("u_grad", u_grad)):
                setattr(self, f"phase{i}_{part}", t)

    def upconv(self, i: int, x: Tensor) -> Tensor:
        conv, dtype = self[i + 1][1], x.dtype
        pw, pb, u = (getattr(self, f"phase{i}_{part}") for part in ("weight", "bias", "u"))
        kernels = None if u is None else (u, getattr(self, f"phase{i}_u_grad"))
        phase_conv = functools.partial(frozen_conv3x3, weight=pw, bias=pb, padding=0, kernels=kernels)
        return upsample_conv5(x, conv.weight.to(dtype), None if conv.bias is None else conv.bias.to(dtype),
                              phase_conv)
