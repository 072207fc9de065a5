"""Speed-ups of the plain networks of ``artworkflow.nn``, applied as one explicit transform.

``accelerate(module, for_="train" | "infer" | "edit", amp=...)`` returns a module that computes what
``module`` computes (to float rounding) with the same state-dict keys, so saved models and
checkpoints load into either. Nothing here changes ``module`` itself, and nothing in ``nn/``
knows about this package. What it swaps, and where each swap is tested against the plain module
(tests/accel/):

* reflect padding that keeps the autocast dtype (``pad``);
* instance norm, AdaIN and layer norm kernels that keep the memory format and dtype (``norm``);
* convolutions with ≤ 4 outputs whose input gradient runs as a forward convolution (``narrow_conv``);
* nearest ×2 + 5×5 convolution as four 3×3 phase convolutions on the small map (``upsample``);
* for editing only: a frozen, channels-last copy (bf16 under ``amp="bf16"``) whose phase kernels are
  folded once and whose wide float32 3×3 convolutions run by Winograd F(4×4, 3×3) (``winograd``);
  a generator's content encoder, which editing runs once per input and never differentiates, keeps
  no input-gradient kernels.

For training the result shares every parameter and buffer with ``module``: an optimiser of either
trains both (move ``module`` to its device first). ``"infer"`` is the same twin, for generation and
decomposition without gradients. For editing it is a snapshot: a copy of the weights of that
moment, which never receives gradients (loading weights into it renews its derived kernels)."""
from __future__ import annotations

import copy
from typing import Callable, TypeVar

import torch
from torch import nn

from ..errors import ConfigError
from ..nn.generator import AdaINGenerator
from ..nn.norm import AdaIN, LayerNorm
from .narrow_conv import NarrowConv2d, narrow_eligible
from .norm import FastAdaIN, FastInstanceNorm, FastLayerNorm
from .pad import ReflectionPad
from .upsample import FrozenUpsamplingPath, UpsamplingPath, upsampling_heads
from .winograd import WinogradConv2d, winograd_eligible

M = TypeVar("M", bound=nn.Module)
PURPOSES = ("train", "infer", "edit")
EDIT_PRECISIONS = ("none", "bf16")


def accelerate(module: M, for_: str = "train", amp: str = "none") -> M:
    """``module`` with its speed-ups: for ``"train"`` and ``"infer"`` a twin sharing its tensors, for
    ``"edit"`` a frozen channels-last copy in the precision of ``amp`` ("none": float32, "bf16")."""
    if for_ not in PURPOSES:
        raise ConfigError(f"accelerate: for_ must be one of {', '.join(PURPOSES)}, got {for_!r}")
    if for_ != "edit":
        return _rebuild(module, _train_swap)
    if amp not in EDIT_PRECISIONS:
        raise ConfigError(f"accelerate: amp must be one of {', '.join(EDIT_PRECISIONS)} for editing, got {amp!r}")
    twin = copy.deepcopy(module)
    if amp == "bf16":
        twin = twin.to(torch.bfloat16)
    return _rebuild(twin.to(memory_format=torch.channels_last), _edit_swap).requires_grad_(False).eval()


def _shallow(module: nn.Module, cls: type | None = None) -> nn.Module:
    """A new module object (of ``cls``, a subclass that adds no state) holding ``module``'s very
    parameters, buffers and children, in containers of its own."""
    twin = copy.copy(module)
    for key, value in module.__dict__.items():
        if isinstance(value, (dict, set)):
            twin.__dict__[key] = copy.copy(value)
    if cls is not None:
        twin.__class__ = cls
    return twin


def _rebuild(module: nn.Module, swap: Callable[[nn.Module], nn.Module | None]) -> nn.Module:
    """``module`` rebuilt bottom-up, every submodule replaced by ``swap(submodule)`` where that is
    not None."""
    twin = _shallow(module)
    for name, child in module.named_children():
        twin._modules[name] = _rebuild(child, swap)
    swapped = swap(twin)
    return twin if swapped is None else swapped


_LEAF_SWAPS: tuple[tuple[Callable[[nn.Module], bool], type], ...] = (
    (lambda m: type(m) is nn.ReflectionPad2d, ReflectionPad),
    (lambda m: type(m) is nn.InstanceNorm2d and not m.affine and not m.track_running_stats, FastInstanceNorm),
    (lambda m: type(m) is AdaIN, FastAdaIN),
    (lambda m: type(m) is LayerNorm, FastLayerNorm),
    (narrow_eligible, NarrowConv2d),
)


def _train_swap(m: nn.Module) -> nn.Module | None:
    for eligible, cls in _LEAF_SWAPS:
        if eligible(m):
            return _shallow(m, cls)
    if type(m) is nn.Sequential and upsampling_heads(m):
        return UpsamplingPath(m)
    return None


def _edit_swap(m: nn.Module) -> nn.Module | None:
    if isinstance(m, AdaINGenerator):  # editing encodes each input once, without gradient
        m.content = _rebuild(m.content, _forward_only)
        return None
    if winograd_eligible(m):
        return WinogradConv2d.from_conv(m)
    if type(m) in (nn.Sequential, UpsamplingPath) and upsampling_heads(m):
        return FrozenUpsamplingPath(m)
    return _train_swap(m)


def _forward_only(m: nn.Module) -> nn.Module | None:
    if isinstance(m, WinogradConv2d) and m.input_gradient:
        return WinogradConv2d(m.weight, m.bias, m.padding, input_gradient=False)
    return None
