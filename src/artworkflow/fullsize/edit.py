"""The stages of an edited artwork at the artwork's own size. The model edits at its resolution; here
the full-size result is the user's artwork plus the change the edit made to the reconstruction, and a
stage image the user gives at full size is used as it is, with the later stages rendered from it."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .artwork import artwork_regions, paint, paper, region_means, region_stage, sharpen, transfer_change, upsample
from .render import render_stages
from .smooth import edge_aware_upsample


def _image(t: Tensor) -> Tensor:
    return (t[0] if t.dim() == 4 else t).detach().float().cpu()


@dataclass(frozen=True)
class FullSizeEdit:
    """The full-size decomposition of one artwork: its stages at full size (the last one the artwork
    itself), the model-size stages they stand for, each stage's kind and the artwork's regions."""

    base: tuple[Tensor, ...]
    model_base: tuple[Tensor, ...]
    kinds: tuple[str, ...]
    labels: np.ndarray

    @classmethod
    def decompose(cls, artwork: Tensor, stages: Sequence[Tensor], kinds: Sequence[str]) -> "FullSizeEdit":
        """From the full-size artwork ((C, H, W) in [-1, 1]) and the model-size stages of its
        reconstruction, every earlier stage at full size, last to first: each is the full-size stage
        after it plus the model's change between the two (region stages one flat colour per region of
        the artwork, the others edge-aware); the line art, which has no colour to change, is the model's
        upsampled edge-aware. The last stage is ``artwork``, bit for bit."""
        artwork = artwork.detach().float().cpu()
        model = tuple(_image(s) for s in stages)
        labels = artwork_regions(artwork)
        base = [artwork]
        for t in range(len(model) - 2, -1, -1):
            later, kind = base[0], kinds[t]
            if model[t].shape[0] != later.shape[0]:
                base.insert(0, sharpen(edge_aware_upsample(model[t], artwork, None)))
            elif kind == "region":
                colours = region_means(upsample(model[t] - model[t + 1], labels.shape) + later, labels)
                keep = torch.from_numpy(paper(labels, later))
                flat = paint(labels, colours).clamp(-1, 1)
                base.insert(0, torch.where(keep[torch.from_numpy(labels.astype(np.int64))], later, flat))
            else:
                base.insert(0, transfer_change(later, model[t + 1], model[t], kind, labels, artwork))
        return cls(tuple(base), model, tuple(kinds), labels)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.base[-1].shape[-2:])

    @cached_property
    def paper(self) -> Tensor:
        """(H, W) bool: the artwork's paper (background), which edits of colour stages leave as it is."""
        return torch.from_numpy(paper(self.labels, self.base[-1])[self.labels])

    def stages(self, current: Sequence[Tensor], uploads: Mapping[int, Tensor] | None = None) -> list[Tensor]:
        """Every stage at full size for the session's current model-size stages. ``uploads`` maps a
        stage to the full-size image the user gave it; the last such stage is kept as given and the
        stages after it are rendered from it, the ones before it carry the edits' changes."""
        current = [_image(s) for s in current]
        u = max(uploads) if uploads else None
        if u == 0:
            return render_stages(uploads[0], current, self.kinds)
        out: list[Tensor] = []
        for t, kind in enumerate(self.kinds):
            if u is not None and t == u:
                out.append(uploads[u].float())
            elif u is not None and t > u:
                out.append(self._forward(out[-1], current[t - 1], current[t], kind))
            else:
                out.append(self._changed(t, out, current))
        return out

    def _changed(self, t: int, out: list[Tensor], current: list[Tensor]) -> Tensor:
        """Stage ``t`` of the decomposition plus what the edits changed in it. A smooth stage takes the
        change of its previous stage as it is at full size (crisp), plus the model's change of what the
        stage itself adds (edge-aware), so the artwork's own detail stays; the paper stays paper."""
        kind, base, rec = self.kinds[t], self.base, self.model_base
        if kind != "smooth" or t == 0 or base[t].shape[0] != base[t - 1].shape[0]:
            moved = transfer_change(base[t], rec[t], current[t], kind, self.labels, base[-1])
        else:
            own = (current[t] - current[t - 1]) - (rec[t] - rec[t - 1])
            if out[t - 1] is base[t - 1] and not own.any():
                return base[t]
            moved = (out[t - 1] + (base[t] - base[t - 1]) + edge_aware_upsample(own, base[-1], self.labels, radius=3, eps=1e-2))
        if moved is base[t] or t == 0:
            return moved
        return torch.where(self.paper, base[t], moved.clamp(-1, 1))

    def _forward(self, previous: Tensor, before: Tensor, stage: Tensor, kind: str) -> Tensor:
        """A stage after a full-size upload: regions filled anew, or the model's change over the
        previous stage added to its full-size image."""
        if kind == "region":
            return region_stage(stage, self.labels)
        change = stage.float() - (before if before.shape[0] == stage.shape[0] else before.mean(0, keepdim=True))
        return (previous + edge_aware_upsample(change, previous, self.labels)).clamp(-1, 1)


def fit_upload(image: Tensor, size: tuple[int, int]) -> Tensor:
    """A stage image the user gives (already in the stage's channels) at the artwork's size."""
    return upsample(_image(image), size)
