"""The networks an edit runs, and the one way editing renders a stage with them.

``edit_networks`` is where editing applies ``accel.accelerate``: frozen, channels-last copies of
the generators and the perceptual loss, made once per reconstruction or session. Copies, so an edit
never changes the flags or weights of a workflow that other sessions share; with ``accel=False``
the workflow's own networks run as written.

Every image editing shows or measures comes from ``stage_decoder``: the generator's own
``decode_prepared`` on a content code prepared once, in the precision of ``amp`` — the
optimisation's loss, the reconstruction, the session's edits and the learned regulariser's edits
alike."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from ..accel import accelerate
from ..accel.layout import memory_format
from ..nn.generator import AdaINGenerator, PreparedContent
from ..nn.vgg import PerceptualLoss
from ..precision import autocast, resolve_amp
from ..workflow import Workflow


@dataclass(frozen=True)
class EditNetworks:
    """The generators (entry i draws image stage i + 1) and perceptual loss of an edit, and the
    precision ("none" or "bf16") they run in."""

    generators: nn.ModuleList
    perceptual: PerceptualLoss | None
    amp: str


def edit_networks(workflow: Workflow, perceptual: PerceptualLoss | None = None, amp: str = "none",
                  accel: bool = True) -> EditNetworks:
    """The networks editing ``workflow`` runs, for ``amp`` ("none", "bf16" or "auto")."""
    amp = resolve_amp(amp, workflow.device)
    if not accel:
        return EditNetworks(workflow.generators, perceptual, amp)
    return EditNetworks(accelerate(workflow.generators, for_="edit", amp=amp),
                        None if perceptual is None else accelerate(perceptual, for_="edit", amp=amp), amp)


def layout_of(generator: AdaINGenerator) -> torch.memory_format:
    """The memory format of the generator's weights, which its inputs take (accelerated copies are
    channels-last; convolutions would otherwise reorder every activation)."""
    return memory_format(generator.res[0].conv1.weight)


def prepare_content(generator: AdaINGenerator, x_in: Tensor, amp: str) -> PreparedContent:
    """The content code of ``x_in``, prepared for decoding, computed once without gradient."""
    with torch.no_grad(), autocast(amp, x_in.device):
        return generator.prepare(generator.encode_content(x_in.contiguous(memory_format=layout_of(generator))))


def stage_decoder(generator: AdaINGenerator, x_in: Tensor, amp: str = "none") -> Callable[[Tensor], Tensor]:
    """``adain -> image`` of one generation stage for a fixed input, differentiable in ``adain``,
    in the precision of ``amp`` (the image is bf16 under "bf16")."""
    prepared = prepare_content(generator, x_in, amp)

    def decode(adain: Tensor) -> Tensor:
        with autocast(amp, x_in.device):
            return generator.decode_prepared(prepared, adain)

    return decode


def stage_renderer(generator: AdaINGenerator, x_in: Tensor, amp: str = "none") -> Callable[[Tensor], Tensor]:
    """``stage_decoder`` without gradient, as a float32 image: reconstructions and edit sessions
    show exactly the images whose loss was measured. Plain ``no_grad`` rather than inference mode,
    so that the images can later feed an optimisation."""
    decode = stage_decoder(generator, x_in, amp)

    def render(adain: Tensor) -> Tensor:
        with torch.no_grad():
            return decode(adain).float()

    return render
