"""bf16, channels-last copies of the frozen networks that editing runs hundreds of times.

Under bf16 autocast editing keeps activations channels-last (oneDNN's layout for bf16). Frozen
float32 NCHW weights would then be cast to bf16 and reordered to channels-last at every call, in
the forward and again in the backward (autocast caches casts only for weights that require
gradients, and editing freezes them all): at 128 px that is about an eighth of an optimisation
step. A copy made once per weight version removes both."""
from __future__ import annotations

import copy
import weakref
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)

_COPIES: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, nn.Module]]" = weakref.WeakKeyDictionary()


def _version(module: nn.Module) -> tuple:
    return tuple((t._version, t.data_ptr()) for t in (*module.parameters(), *module.buffers()))


def autocast_copy(module: M | None, amp: str) -> M | None:
    """``module`` itself without autocast (``amp == "none"``); else its frozen bf16 channels-last
    copy, made again only after the module's weights change (an optimiser step or a load bumps their
    version). Under autocast the copy computes what the module computes."""
    if module is None or amp == "none":
        return module
    key = _version(module)
    hit = _COPIES.get(module)
    if hit is None or hit[0] != key:
        half = copy.deepcopy(module).to(torch.bfloat16).to(memory_format=torch.channels_last)
        hit = (key, half.requires_grad_(False).eval())
        _COPIES[module] = hit
    return hit[1]  # type: ignore[return-value]
