"""Interactive editing of one artwork: its stage images and the AdaIN vectors that connect them.

Stage convention: every ``stage`` argument names an *image* stage, by name or 0-based index
(0 = the first stage, e.g. the sketch). The AdaIN vector or latent "of stage s" is the one that
generator ``s - 1`` uses to draw stage ``s`` from stage ``s - 1``, so ``resample("flat")`` changes how
the flat colouring looks while the sketch stays as it is. An edit only regenerates the stages after
the one it touches; everything before is kept as the very same tensors (bit-identical).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import Tensor

from ..config import COUNT, POSITIVE, check_range
from ..data.images import load_image, resize
from ..errors import ConfigError
from ..fullsize.canvas import MAX_SIZE, limit_size
from ..fullsize.edit import FullSizeEdit, fit_upload
from ..nn.vgg import PerceptualLoss
from ..report.layers import write_layers
from ..report.workflow_files import FRAME_MS, write_gif, write_strip
from ..workflow import Workflow
from .perceptual import LAMBDA_P
from .reconstruct import Reconstruction, ReconstructCallback, reconstruct
from .regularizer import generation_index
from .render import EditNetworks, edit_networks, stage_renderer


@dataclass(frozen=True)
class _State:
    stages: tuple[Tensor, ...]
    adain: tuple[Tensor, ...]
    latents: tuple[Tensor, ...]
    decoders: tuple[Callable[[Tensor], Tensor], ...]
    label: str
    uploads: Mapping[int, Tensor] = field(default_factory=dict)
    """Stage images the user gave, at the artwork's size, that the current stages still follow."""


class EditSession:
    """Stage images plus per-stage AdaIN vectors and latents of one artwork, with edits and undo.

    Every edit replaces whole tensors and never writes into existing ones, so the previous state
    stays intact for ``undo`` and upstream stages are untouched by construction."""

    def __init__(self, workflow: Workflow, first: Tensor, adain: list[Tensor], latents: list[Tensor], *,
                 amp: str = "auto", accel: bool = True, networks: EditNetworks | None = None,
                 reconstruction: Reconstruction | None = None, undo_depth: int = 100,
                 artwork: Tensor | None = None):
        if len(adain) != workflow.n_stages - 1 or len(latents) != workflow.n_stages - 1:
            raise ValueError(f"need {workflow.n_stages - 1} AdaIN vectors and latents, got "
                             f"{len(adain)} and {len(latents)}")
        if first.dim() != 4 or first.shape[0] != 1:
            raise ValueError(f"an edit session holds one artwork: first must be (1, C, H, W), got {tuple(first.shape)}")
        self.workflow = workflow.eval()
        self.networks = networks if networks is not None else edit_networks(workflow, None, amp, accel)
        self.amp = self.networks.amp
        self.reconstruction = reconstruction
        self.undo_depth = undo_depth
        self._undo: list[_State] = []
        stages, decoders = self._render([first], [], list(adain))
        self._state = _State(tuple(stages), tuple(a.detach() for a in adain), tuple(z.detach() for z in latents),
                             tuple(decoders), "reconstruct")
        self.full = (FullSizeEdit.decompose(artwork, stages, workflow.spec.kinds) if artwork is not None
                     else None)
        self._full_cache: tuple[_State, list[Tensor]] | None = None

    @classmethod
    def from_artwork(cls, workflow: Workflow, final: Tensor, *, method: str = "adain",
                     regularization: str | float = "auto", steps: int = 150, lr: float = 0.1,
                     perceptual: PerceptualLoss | None = None, lambda_p: float = LAMBDA_P,
                     amp: str = "auto", accel: bool = True, networks: EditNetworks | None = None,
                     progress: bool | ReconstructCallback | None = None, max_size: int = MAX_SIZE,
                     notice: Callable[[str], None] | None = None) -> "EditSession":
        """Decompose a finished artwork ((C, H, W) or (1, C, H, W) in [-1, 1]) into stages and fit
        the AdaIN vectors that regenerate it (``reconstruct``); the session starts from that fit and
        renders with the same networks (``edit_networks(workflow, perceptual, amp, accel)`` unless
        given). ``amp="auto"`` works in bf16 where the device computes it natively, in float32
        elsewhere. ``regularization="auto"`` is the paper's method where the model allows it: the
        learned regulariser of every stage whose regulariser was trained, w = 0 for the others
        (``stage_choices``). ``final`` at its own size (longest side up to ``max_size``; a larger one
        is shrunk, said through ``notice``) is kept for ``full_stages``."""
        check_range("steps", steps, COUNT)
        check_range("lr", lr, POSITIVE)
        full = _own_size(workflow, final, workflow.n_stages - 1)
        full = limit_size(full, max_size, "the artwork", notice)
        final = _as_stage_image(workflow, full, workflow.n_stages - 1)
        nets = networks if networks is not None else edit_networks(workflow, perceptual, amp, accel)
        rec = reconstruct(workflow, final, method=method, regularization=regularization, steps=steps, lr=lr,
                          lambda_p=lambda_p, networks=nets, progress=progress)
        return cls(workflow, rec.inferred[0], rec.adain, rec.latents, networks=replace(nets, perceptual=None),
                   reconstruction=rec, artwork=full[0])

    # ------------------------------------------------------------------ state
    @property
    def names(self) -> list[str]:
        return self.workflow.spec.names

    @property
    def stages(self) -> list[Tensor]:
        """The N stage images, (1, C, H, W) each: the first stage, then every generated one."""
        return list(self._state.stages)

    @property
    def adain(self) -> list[Tensor]:
        """N - 1 AdaIN vectors; entry k draws stage k + 1."""
        return list(self._state.adain)

    @property
    def latents(self) -> list[Tensor]:
        """N - 1 latents z; entry k is the latent behind ``adain[k]`` (for an optimised vector, the
        encoded latent the optimisation started from)."""
        return list(self._state.latents)

    def full_stages(self) -> list[Tensor]:
        """Every stage at the artwork's own size, (C, H, W) in [-1, 1] each: the user's artwork plus the
        change the edits made (``fullsize.edit``); with no edit the last stage is the artwork, bit for
        bit. A session made without the full-size artwork gives its model-size stages."""
        if self.full is None:
            return [s[0] for s in self._state.stages]
        if self._full_cache is None or self._full_cache[0] is not self._state:
            self._full_cache = (self._state, self.full.stages(self._state.stages, self._state.uploads))
        return list(self._full_cache[1])

    @property
    def history(self) -> list[str]:
        """Labels of the states so far, oldest first; the last one is the current state."""
        return [s.label for s in self._undo] + [self._state.label]

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    # ------------------------------------------------------------------ edits
    def resample(self, stage: int | str, seed: int | None = None) -> list[Tensor]:
        """Draw a new latent for ``stage`` (an image stage ≥ 1) and regenerate it and every later stage."""
        k = generation_index(self.workflow, stage)
        if seed is None:
            seed = int(torch.randint(0, 2**31 - 1, ()).item())
        z = torch.randn(1, self.workflow.model_config.nz, generator=torch.Generator().manual_seed(seed))
        return self._set_latent(k, z.to(self.workflow.device), f"resample {self.names[k + 1]} (seed {seed})")

    def set_latent(self, stage: int | str, z: Tensor) -> list[Tensor]:
        """Use latent ``z`` (nz values) for ``stage`` (≥ 1) and regenerate from there."""
        k = generation_index(self.workflow, stage)
        z = z.detach().reshape(1, -1).to(self.workflow.device, torch.float32)
        if z.shape[1] != self.workflow.model_config.nz:
            raise ValueError(f"z must have {self.workflow.model_config.nz} values, got {z.shape[1]}")
        return self._set_latent(k, z, f"set latent of {self.names[k + 1]}")

    def borrow(self, stage: int | str, artwork: Tensor | str | os.PathLike) -> list[Tensor]:
        """Give ``stage`` (≥ 1) the look of that stage of another finished artwork (a tensor in [-1, 1] or
        an image file, converted to the last stage's channels and the model's resolution): its encoded
        latent (``Workflow.artwork_latents``) replaces this stage's, and the later stages regenerate."""
        k = generation_index(self.workflow, stage)
        final = _as_stage_image(self.workflow, artwork, self.workflow.n_stages - 1)
        with torch.no_grad():
            z = self.workflow.artwork_latents(final)[k]
        source = "another artwork" if isinstance(artwork, Tensor) else Path(artwork).name
        return self._set_latent(k, z, f"borrow {self.names[k + 1]} from {source}")

    def set_adain(self, stage: int | str, vector: Tensor) -> list[Tensor]:
        """Use an AdaIN vector directly for ``stage`` (≥ 1) and regenerate from there."""
        k = generation_index(self.workflow, stage)
        vector = vector.detach().reshape(1, -1).to(self.workflow.device, torch.float32)
        if vector.shape[1] != self.workflow.generators[k].adain_dim:
            raise ValueError(f"AdaIN vector must have {self.workflow.generators[k].adain_dim} values")
        adain = list(self._state.adain)
        adain[k] = vector
        return self._commit(k, adain, list(self._state.latents), f"set AdaIN vector of {self.names[k + 1]}")

    def set_stage_image(self, stage: int | str, image: Tensor | str | os.PathLike) -> list[Tensor]:
        """Replace the image of ``stage`` (e.g. a redrawn sketch; a tensor in [-1, 1] or an image file)
        and regenerate every later stage with the current AdaIN vectors."""
        s = self.workflow.stage_index(stage)
        own = _own_size(self.workflow, image, s)
        image = _as_stage_image(self.workflow, own, s)
        uploads = {t: im for t, im in self._state.uploads.items() if t < s}
        if self.full is not None:
            uploads[s] = fit_upload(own, self.full.size)
        self._push()
        stages, decoders = self._render(list(self._state.stages[:s]) + [image], list(self._state.decoders[:s]),
                                        list(self._state.adain))
        self._state = replace(self._state, stages=tuple(stages), decoders=tuple(decoders),
                              label=f"set image of {self.names[s]}", uploads=uploads)
        return self.stages

    def undo(self) -> bool:
        """Go back to the state before the last edit (the very same tensors); False if none."""
        if not self._undo:
            return False
        self._state = self._undo.pop()
        return True

    # ------------------------------------------------------------------ export
    def export_strip(self, path: str | os.PathLike) -> Path:
        """All stages side by side in one PNG."""
        return write_strip(self._state.stages, path)

    def export_layers(self, path: str | os.PathLike, lines: bool | None = None, overwrite: bool = False) -> Path:
        """The current workflow at full size as one layered file, ``.ora`` or ``.psd`` by the suffix
        (``report.layers.write_layers``: a layer per stage whose visible composite is the final stage)."""
        return write_layers(path, self.full_stages(), self.names, self.workflow.spec.kinds, lines, overwrite)

    def export_gif(self, path: str | os.PathLike, frame_ms: int = FRAME_MS) -> Path:
        """An animated GIF of the workflow, one frame per stage, looping."""
        return write_gif(self._state.stages, path, frame_ms)

    # ------------------------------------------------------------------ internals
    def _set_latent(self, k: int, z: Tensor, label: str) -> list[Tensor]:
        with torch.no_grad():
            vector = self.workflow.adain_vector(k, z)
        adain, latents = list(self._state.adain), list(self._state.latents)
        adain[k], latents[k] = vector, z
        return self._commit(k, adain, latents, label)

    def _commit(self, k: int, adain: list[Tensor], latents: list[Tensor], label: str) -> list[Tensor]:
        """Regenerate image stages k+1.. with generator k onwards; stages ≤ k are kept."""
        self._push()
        stages, decoders = self._render(list(self._state.stages[:k + 1]), list(self._state.decoders[:k + 1]),
                                        adain)
        uploads = {t: im for t, im in self._state.uploads.items() if t <= k}
        self._state = _State(tuple(stages), tuple(adain), tuple(latents), tuple(decoders), label, uploads)
        return self.stages

    def _push(self) -> None:
        self._undo.append(self._state)
        if len(self._undo) > self.undo_depth:
            del self._undo[0]

    def _render(self, stages: list[Tensor], decoders: list[Callable[[Tensor], Tensor]],
                adain: list[Tensor]) -> tuple[list[Tensor], list[Callable[[Tensor], Tensor]]]:
        """Generate the stages after the given ones. ``decoders`` holds the stage renderers (content
        code encoded, first convolution done) of the generator inputs that did not change; the others
        are made here."""
        wf = self.workflow
        stages, decoders = list(stages), list(decoders)
        for k in range(len(stages) - 1, wf.n_stages - 1):
            if len(decoders) == k:
                decoders.append(stage_renderer(self.networks.generators[k], stages[k], self.amp))
            stages.append(decoders[k](adain[k]))
        return stages, decoders


def _own_size(workflow: Workflow, image: Tensor | str | os.PathLike, stage: int) -> Tensor:
    """A stage image at its own size (a tensor, or a file read as it is) as a float (1, C, H, W) with
    the stage's channels."""
    channels = workflow.spec.channels[stage]
    if not isinstance(image, Tensor):
        image = load_image(Path(image), channels)
    image = image.detach().float()
    if image.dim() == 3:
        image = image[None]
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] not in (1, 3):
        raise ConfigError(f"expected one (C, H, W) image, got shape {tuple(image.shape)}")
    if image.shape[1] != channels:
        image = image.mean(1, keepdim=True) if channels == 1 else image.expand(-1, 3, -1, -1)
    return image


def _as_stage_image(workflow: Workflow, image: Tensor | str | os.PathLike, stage: int) -> Tensor:
    """A (1, C, R, R) tensor at the model's resolution and channels, on the workflow's device."""
    res = workflow.model_config.resolution
    image = _own_size(workflow, image, stage)
    if tuple(image.shape[-2:]) != (res, res):
        image = resize(image, res)
    return image.to(workflow.device).contiguous()
