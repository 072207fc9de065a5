"""A faster rendering path for the many decodes of AdaIN optimisation and interactive editing.

Exact rewrites of ``AdaINGenerator.decode`` for a fixed content code:

* the first convolution of the first AdaIN block sees only the content code, so its instance-normalised
  output is computed once;
* a nearest ×2 upsample followed by a reflect-padded 5×5 convolution equals four 3×3 convolutions on the
  low-resolution map (one per output phase, taps summed), interleaved by a pixel shuffle — 36 instead of
  100 multiply-adds per output pixel. Reflect padding of the upsampled map differs from any padding of
  the small one only on the outermost output rows and columns; those are recomputed with the original
  5×5 kernel on thin strips;
* the layer norms of the upsampling path take two passes over the activation instead of six.

Results match ``decode`` to float rounding (summing taps reorders additions), not bit for bit.
"""
from __future__ import annotations

import weakref
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.blocks import AdaINResBlock, LayerNorm
from ..nn.generator import AdaINGenerator

def _fold_taps(w: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """The 5 taps along ``dim`` folded onto the low-resolution offsets -1, 0, +1, for even and odd
    output positions of a nearest ×2 upsample: (k0+k1, k2+k3, k4) and (k0, k1+k2, k3+k4)."""
    k = w.unbind(dim)
    return (torch.stack([k[0] + k[1], k[2] + k[3], k[4]], dim),
            torch.stack([k[0], k[1] + k[2], k[3] + k[4]], dim))


def phase_weights(weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """(Cout, Cin, 5, 5) → (4·Cout, Cin, 3, 3) in pixel-shuffle channel order (c, row phase, col phase)."""
    cout, cin = weight.shape[:2]
    phases = [col for rows in _fold_taps(weight, 2) for col in _fold_taps(rows, 3)]
    k = torch.stack(phases, 1).reshape(4 * cout, cin, 3, 3)
    return k, (bias.repeat_interleave(4) if bias is not None else None)


def _reflect_upsampled_index(n: int, device: torch.device) -> Tensor:
    """For each column of the reflect-padded (by 2) ×2-upsampled axis, its low-resolution source."""
    j = torch.arange(-2, 2 * n + 2, device=device)
    j = torch.where(j < 0, -j, j)
    j = torch.where(j > 2 * n - 1, 2 * (2 * n - 1) - j, j)
    return j // 2


_PHASES: "weakref.WeakKeyDictionary[nn.Conv2d, tuple[tuple[int, int], Tensor, Tensor | None]]" = \
    weakref.WeakKeyDictionary()


def _cached_phase_weights(conv: nn.Conv2d) -> tuple[Tensor, Tensor | None]:
    """Phase kernels of a convolution, recomputed only when its weights change (an optimizer step or
    a load bumps the tensor's version), so every edit of a session does not pay for them again."""
    key = (conv.weight._version, conv.weight.data_ptr())
    hit = _PHASES.get(conv)
    if hit is None or hit[0] != key:
        with torch.no_grad():
            hit = (key, *phase_weights(conv.weight.detach(), None if conv.bias is None else conv.bias.detach()))
        _PHASES[conv] = hit
    return hit[1], hit[2]


class _UpConv:
    """nearest ×2 → reflect pad 2 → conv 5×5, as phase convolutions plus exact borders."""

    def __init__(self, conv: nn.Conv2d):
        self.weight, self.bias = conv.weight.detach(), None if conv.bias is None else conv.bias.detach()
        self.phase_weight, self.phase_bias = _cached_phase_weights(conv)
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


def _layer_norm(m: LayerNorm) -> Callable[[Tensor], Tensor]:
    """``blocks.LayerNorm`` as two passes over the activation (statistics, then one multiply-add)."""

    def norm(x: Tensor) -> Tensor:
        std, mean = torch.std_mean(x, dim=tuple(range(1, x.dim())), keepdim=True)
        scale = m.gamma.to(x.dtype).view(1, -1, 1, 1) / (std + m.eps)
        return torch.addcmul(m.beta.to(x.dtype).view(1, -1, 1, 1) - mean * scale, x, scale)

    return norm


def _flatten(m: nn.Module) -> list[Callable[[Tensor], Tensor]]:
    if isinstance(m, nn.Sequential):
        return [f for child in m for f in _flatten(child)]
    return [_layer_norm(m)] if isinstance(m, LayerNorm) else [m]


def _upsampling_path(up: nn.Sequential) -> list[Callable[[Tensor], Tensor]]:
    """The decoder tail as callables, with each upsample + 5×5 block replaced by its fast form."""
    mods, out, i = list(up), [], 0
    while i < len(mods):
        if i + 1 < len(mods) and _is_upsample2(mods[i]) and _is_reflect_conv5(mods[i + 1]):
            out += [_UpConv(mods[i + 1][1]), *_flatten(nn.Sequential(*list(mods[i + 1])[2:]))]
            i += 2
        else:
            out += _flatten(mods[i])
            i += 1
    return out


def _scale_bias(params: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return tuple(p[:, :, None, None] for p in params.chunk(4, dim=1))  # type: ignore[return-value]


def _adain(x: Tensor, scale: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """``blocks.adain`` as statistics plus one multiply-add; unlike ``F.instance_norm`` it keeps the
    input's memory format."""
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    a = scale * torch.rsqrt(var + eps)
    return torch.addcmul(bias - mean * a, x, a)


def _block(block: AdaINResBlock, x: Tensor, params: Tensor) -> Tensor:
    """``AdaINResBlock.forward`` with the fused AdaIN."""
    s1, b1, s2, b2 = _scale_bias(params)
    h = F.relu(_adain(block.conv1(block.pad(x)), s1, b1))
    return x + _adain(block.conv2(block.pad(h)), s2, b2)


def prepare_decoder(generator: AdaINGenerator, content: Tensor) -> Callable[[Tensor], Tensor]:
    """``adain -> image`` for a fixed content code, equal to ``generator.decode(content, adain)``.
    Constant work (the first block's first convolution and the phase kernels) happens here, once.

    Under autocast the AdaIN vector is cast once to the autocast type, so scales, biases and
    activations stay in bf16 between convolutions instead of being promoted to float32 by every
    AdaIN and layer norm and cast back by the next convolution; activations are then kept
    channels-last, the layout of oneDNN's bf16 convolutions, so they are not reordered before each."""
    first = generator.res[0]
    with torch.no_grad():
        norm1 = F.instance_norm(first.conv1(first.pad(content)), eps=1e-5)
    if torch.is_autocast_enabled(content.device.type):
        content = content.contiguous(memory_format=torch.channels_last)
        norm1 = norm1.contiguous(memory_format=torch.channels_last)
    tail = _upsampling_path(generator.up)
    blocks = list(generator.res)

    def decode(adain: Tensor) -> Tensor:
        kind = adain.device.type
        if torch.is_autocast_enabled(kind):
            adain = adain.to(torch.get_autocast_dtype(kind))
        chunks = adain.chunk(len(blocks), dim=1)
        s1, b1, s2, b2 = _scale_bias(chunks[0])
        h = F.relu(torch.addcmul(b1, norm1.to(adain.dtype), s1))
        h = content.to(h.dtype) + _adain(first.conv2(first.pad(h)), s2, b2)
        for block, params in zip(blocks[1:], chunks[1:]):
            h = _block(block, h, params)
        for f in tail:
            h = f(h)
        return h

    return decode
