"""Inference over a trained workflow: sampling new artwork stage by stage and decomposing finished
artwork into its stages. The CLI and the app go through this object only."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .accel import accelerate
from .data.images import image_channels, load_image, resize
from .errors import ConfigError
from .editing.regularizer import generation_index
from .editing.render import EditNetworks, edit_networks
from .fullsize.canvas import MAX_SIZE, limit_size
from .fullsize.regions import Segmentation, segment
from .fullsize.render import render_stages
from .nn.vgg import PerceptualLoss
from .precision import resolve_amp
from .workflow import Workflow


class WorkflowPipeline:
    def __init__(self, workflow: Workflow, accel: bool = True):
        """Over ``workflow``'s weights, run through ``accel.accelerate`` unless ``accel`` is False."""
        self.workflow = accelerate(workflow.eval(), for_="infer") if accel else workflow.eval()
        self.accel = accel
        self._edit_networks: dict[tuple[str, PerceptualLoss | None], EditNetworks] = {}

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str = "cpu", accel: bool = True) -> "WorkflowPipeline":
        return cls(Workflow.from_pretrained(path, map_location=device), accel)

    def edit_networks(self, perceptual: PerceptualLoss | None = None, amp: str = "auto") -> EditNetworks:
        """The networks that edits of this pipeline's workflow run (``editing.edit_networks``, accelerated
        unless ``accel`` is False), made on first use for each precision and perceptual loss and then
        shared by every edit session: frozen copies of weights that the pipeline never changes. After
        changing the workflow's weights, call ``forget_edit_networks``."""
        key = (resolve_amp(amp, self.workflow.device), perceptual)
        if key not in self._edit_networks:
            self._edit_networks[key] = edit_networks(self.workflow, perceptual, key[0], self.accel)
        return self._edit_networks[key]

    def forget_edit_networks(self) -> None:
        """Drop the networks ``edit_networks`` made, so that the next edit copies the current weights."""
        self._edit_networks.clear()

    @property
    def names(self) -> list[str]:
        return self.workflow.spec.names

    @property
    def resolution(self) -> int:
        return self.workflow.model_config.resolution

    def load(self, path: str | os.PathLike, stage: int | str | None = None) -> torch.Tensor:
        """Read an image for a stage as a (1, C, R, R) tensor at the model's resolution. Without
        ``stage``, the image's channels choose it: a grey file is the one grey stage, a colour file the
        one colour stage; when several stages fit, the error names them and asks for one."""
        if stage is not None:
            i = self.workflow.stage_index(stage)
            return self.prepare(load_image(Path(path), self.workflow.spec.channels[i]), i)
        channels = image_channels(path)
        image = load_image(Path(path), channels)  # a damaged file is refused before the stage is chosen
        return self.prepare(image, self._stage_for(path, channels))

    def _stage_for(self, path: str | os.PathLike, channels: int) -> int:
        fits = [i for i, c in enumerate(self.workflow.spec.channels) if c == channels]
        if len(fits) == 1:
            return fits[0]
        kind = "grey" if channels == 1 else "colour"
        which = (f"the stages {', '.join(self.names[i] for i in fits)} are all {kind}" if fits
                 else f"no stage is {kind}")
        raise ConfigError(f"{path}: a {kind} image, and {which}; say which stage it is, e.g. "
                          f"pipe.load({str(path)!r}, {self.names[fits[-1] if fits else 0]!r})")

    def prepare(self, image: torch.Tensor, stage: int | str = 0) -> torch.Tensor:
        """Resize a (C,H,W) or (B,C,H,W) image in [-1,1] to the model's resolution and device."""
        i = self.workflow.stage_index(stage)
        want = self.workflow.spec.channels[i]
        if image.dim() == 3:
            image = image[None]
        if image.shape[1] != want:
            image = image.mean(1, keepdim=True) if want == 1 else image.expand(-1, 3, -1, -1)
        if image.shape[-1] != self.resolution or image.shape[-2] != self.resolution:
            image = resize(image, self.resolution)
        return image.to(self.workflow.device)

    def latents(self, batch: int, seed: int, fixed: Mapping[int, torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Random latents of every generation stage from ``seed``, except those in ``fixed`` (generation
        stage index -> a (1, nz) latent, e.g. from ``borrow_latent``), which every item of the batch uses."""
        zs = self.workflow.random_z(batch, torch.Generator().manual_seed(seed))
        for k, z in (fixed or {}).items():
            zs[k] = z.reshape(1, -1).to(zs[k]).expand(batch, -1)
        return zs

    @torch.no_grad()
    def borrow_latent(self, stage: int | str, artwork: torch.Tensor | str | os.PathLike) -> torch.Tensor:
        """The latent of image stage ``stage`` (≥ 1) of another finished artwork (a tensor in [-1, 1] or an
        image file, converted like any input: channels made the last stage's, resized to the model's
        resolution), as ``Workflow.artwork_latents`` encodes it: drawing ``stage`` with it gives that
        stage the artwork's look, e.g. its colours. (1, nz), or (B, nz) for a batch of artworks."""
        k = generation_index(self.workflow, stage)
        last = self.workflow.n_stages - 1
        final = self.prepare(artwork, last) if isinstance(artwork, torch.Tensor) else self.load(artwork, last)
        return self.workflow.artwork_latents(final)[k]

    @torch.no_grad()
    def generate(self, x1: torch.Tensor, zs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.workflow.generate(x1, zs=zs)

    @torch.no_grad()
    def sample(self, x1: torch.Tensor, seed: int = 0, fixed: Mapping[int, torch.Tensor] | None = None
               ) -> list[torch.Tensor]:
        """A random workflow from ``x1``; the latents in ``fixed`` (see ``latents``) instead of random ones."""
        return self.generate(x1, self.latents(x1.shape[0], seed, fixed))

    @torch.no_grad()
    def stage_variations(self, x1: torch.Tensor, stage: int, k: int, seed: int = 0,
                         fixed: Mapping[int, torch.Tensor] | None = None) -> list[list[torch.Tensor]]:
        """k workflows from one first-stage image that differ only in the latent of generation
        stage ``stage`` (0-based); the other latents are fixed by ``seed``, or given in ``fixed``."""
        base = self.latents(1, seed, fixed)
        out = []
        for v in range(k):
            zs = [z.clone() for z in base]
            zs[stage] = self.latents(1, seed * 1000 + 1 + v)[stage]
            out.append(self.generate(x1[:1], zs))
        return out

    def load_full(self, path: str | os.PathLike, stage: int | str = 0, max_size: int = MAX_SIZE,
                  notice=None) -> torch.Tensor:
        """Read a stage image at its own size, (C, H, W) in [-1, 1], shrunk to ``max_size`` on its
        longest side if larger (said through ``notice``)."""
        i = self.workflow.stage_index(stage)
        return limit_size(load_image(Path(path), self.workflow.spec.channels[i]), max_size, str(path), notice)

    def regions(self, first: torch.Tensor) -> Segmentation | None:
        """The regions of a full-size first stage that ``render_full`` fills (None when no stage is a
        region stage): found once, they serve every workflow rendered from that first stage."""
        return segment(first) if "region" in self.workflow.spec.kinds[1:] else None

    def render_full(self, first: torch.Tensor, stages: list[torch.Tensor],
                    seg: Segmentation | None = None) -> list[torch.Tensor]:
        """A workflow's model-size stages at the size of ``first``, the first stage at its own size
        ((C, H, W)): region stages from the line art's regions, the others edge-aware (``fullsize``). The
        first stages of a workflow (as the app's creation path has them) render alone. ``seg``
        (``regions(first)``) lets many workflows of one line art share its regions."""
        stages = [s[0] if s.dim() == 4 else s for s in stages]
        return render_stages(first, stages, self.workflow.spec.kinds[:len(stages)], seg=seg)

    @torch.no_grad()
    def sample_full(self, first: torch.Tensor, seed: int = 0) -> list[torch.Tensor]:
        """One random workflow from a first-stage image at its own size ((C, H, W) in [-1, 1]), every
        stage at that size: the one call for full-size creation (``load_full`` reads the image)."""
        return self.render_full(first, [s.cpu() for s in self.sample(self.prepare(first, 0), seed)])

    @torch.no_grad()
    def decompose(self, final: torch.Tensor) -> list[torch.Tensor]:
        """Infer every earlier stage of a finished artwork."""
        return self.workflow.infer(final)
