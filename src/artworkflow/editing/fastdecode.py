"""A faster rendering path for the many decodes of AdaIN optimisation and interactive editing.

Exact rewrites of ``AdaINGenerator.decode`` for a fixed content code:

* the first convolution of the first AdaIN block sees only the content code, so its instance-normalised
  output is computed once;
* the phase kernels of the upsampling convolutions (``nn.upsample``) are computed once per weight
  version instead of at every decode, and in float32 run as Winograd convolutions (``nn.winograd``)
  when they are wide enough.

Results match ``decode`` to float rounding, not bit for bit.
"""
from __future__ import annotations

import weakref
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.norm import adain
from ..nn.generator import AdaINGenerator
from ..nn.layout import memory_format
from ..nn.upsample import fused_layers, phase_weights, upsample_conv5
from ..nn.winograd import WinogradConv2d, winograd_pays

_Phases = tuple[Tensor, Tensor | None, "WinogradConv2d | None"]
_PHASES: "weakref.WeakKeyDictionary[nn.Conv2d, tuple[tuple[int, int], _Phases]]" = weakref.WeakKeyDictionary()


def _cached_phases(conv: nn.Conv2d) -> _Phases:
    """Phase kernels of a convolution (and their Winograd form when wide enough), recomputed only
    when its weights change (an optimizer step or a load bumps the tensor's version), so every edit
    of a session does not pay for them again."""
    key = (conv.weight._version, conv.weight.data_ptr())
    hit = _PHASES.get(conv)
    if hit is None or hit[0] != key:
        with torch.no_grad():
            pw, pb = phase_weights(conv.weight.detach(), None if conv.bias is None else conv.bias.detach())
        hit = (key, (pw, pb, WinogradConv2d(pw, pb) if winograd_pays(pw) else None))
        _PHASES[conv] = hit
    return hit[1]


class _UpConv:
    """``upsample_conv5`` with the phase kernels of frozen weights computed once."""

    def __init__(self, conv: nn.Conv2d):
        self.weight, self.bias = conv.weight.detach(), None if conv.bias is None else conv.bias.detach()
        self.pw, self.pb, self.winograd = _cached_phases(conv)

    def _phase_conv(self, padded: Tensor) -> Tensor:
        dtype = padded.dtype
        return F.conv2d(padded, self.pw.to(dtype), None if self.pb is None else self.pb.to(dtype))

    def __call__(self, v: Tensor) -> Tensor:
        dtype = v.dtype
        return upsample_conv5(v, self.weight.to(dtype), None if self.bias is None else self.bias.to(dtype),
                              self._phase_conv if self.winograd is None else self.winograd)


def prepare_decoder(generator: AdaINGenerator, content: Tensor) -> Callable[[Tensor], Tensor]:
    """``adain -> image`` for a fixed content code, equal to ``generator.decode(content, adain)``.
    Constant work (the first block's first convolution and the phase kernels) happens here, once.

    Under autocast the AdaIN vector is cast once to the autocast type, so scales, biases and
    activations stay in bf16 between convolutions instead of being promoted to float32 by every
    AdaIN and layer norm and cast back by the next convolution. Activations are kept in the layout
    of the generator's weights (channels-last for editing's copies), so convolutions do not reorder
    them."""
    first = generator.res[0]
    with torch.no_grad():
        norm1 = F.instance_norm(first.conv1(first.pad(content)), eps=1e-5)
    fmt = memory_format(first.conv1.weight)
    if torch.is_autocast_enabled(content.device.type):
        fmt = torch.channels_last
    content, norm1 = content.contiguous(memory_format=fmt), norm1.contiguous(memory_format=fmt)
    tail = fused_layers(generator.up, _UpConv)
    blocks = list(generator.res)

    def decode(vector: Tensor) -> Tensor:
        kind = vector.device.type
        if torch.is_autocast_enabled(kind):
            vector = vector.to(torch.get_autocast_dtype(kind))
        chunks = vector.chunk(len(blocks), dim=1)
        s1, b1, s2, b2 = chunks[0].chunk(4, dim=1)
        h = F.relu(torch.addcmul(b1[:, :, None, None], norm1.to(vector.dtype), s1[:, :, None, None]))
        h = content.to(h.dtype) + adain(first.conv2(first.pad(h)), s2, b2)
        for block, params in zip(blocks[1:], chunks[1:]):
            h = block(h, params)
        for f in tail:
            h = f(h)
        return h

    return decode
