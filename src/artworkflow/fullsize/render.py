"""Every stage of a generated workflow at the first stage's own size.

The model decides what colour and what light; the full-size first stage decides where the edges are.
A region stage paints each region of the line art (``regions.segment``) with one colour read from the
model's stage (``colours``), a smooth stage adds the model's change over the stage before it, brought
to full size edge-aware (``smooth.edge_aware_upsample``) so it follows the full-size edges. The rules
and constants below were chosen by measurement (docs/results.md, Full-size rendering)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..config import STAGE_KINDS
from ..errors import ConfigError
from .colours import ModelStage, away_from, read_colours, region_colours
from .regions import INK_LEVEL, Segmentation, fill_strokes, segment
from .smooth import edge_aware_upsample

WHITE_LEVEL = 0.8
"""A region touching the border whose model colour is at least this light in every channel ([-1, 1])
is background, painted white as the data has it."""
STROKE_AWAY = 2.0
"""A stroke's colour is read this many model pixels away from the background, whose white the
model's blur mixes into the outer outlines."""
STROKE_MERGE = 0.0
"""A stroke keeps a colour of its own where the model paints it at least this far (largest channel
difference, [-1, 1]) from the region it borders, else it takes the region's colour; 0: strokes always
keep the model's colour, as measured best."""
_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def stroke_labels(seg: Segmentation, labels: np.ndarray, colours: np.ndarray, stage: ModelStage,
                  background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and colours with the strokes ``labels`` gives each region made a region of their own
    (label + count) where the model paints them in a colour of their own (``STROKE_MERGE``), read
    away from the ``background`` regions (``STROKE_AWAY``)."""
    n = seg.count
    stroke = seg.labels == 0
    grid = seg.labels[::stage.step, ::stage.step]
    preferred = (grid == 0) & away_from(stage, background[seg.labels], STROKE_AWAY)
    stroke_colours = np.nan_to_num(read_colours(stage, labels, n, preferred, stroke), nan=np.inf)
    keep = np.abs(stroke_colours - colours).max(1) >= STROKE_MERGE
    keep &= np.isfinite(stroke_colours[:, 0])
    keep[0] = False
    out = np.where(stroke & keep[labels], labels + n, labels).astype(np.int32)
    return out, np.concatenate([colours, np.where(np.isfinite(stroke_colours), stroke_colours, 1.0)])


def _across(labels: np.ndarray, side: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """For pixels (ys, xs), the label of a 3×3 neighbour on ``side`` (the largest; 0 if none)."""
    h, w = labels.shape
    found = np.zeros(len(ys), labels.dtype)
    for dy, dx in _NEIGHBOURS:
        y, x = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
        found = np.maximum(found, np.where(side[y, x], labels[y, x], 0))
    return found


def paint_regions(labels: np.ndarray, coverage: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(C, H, W) flat colour of ``labels``, every edge between ink and paper blended by the line art's
    ink ``coverage``, so the result is as anti-aliased as the line art."""
    flat = colours[labels].transpose(2, 0, 1)
    ys, xs = np.nonzero((coverage > 0) & (coverage < 1))
    cov = coverage[ys, xs]
    ink = coverage > INK_LEVEL
    own, on_ink = labels[ys, xs], cov > INK_LEVEL
    other = np.where(on_ink, _across(labels, ~ink, ys, xs), _across(labels, ink, ys, xs))
    other = np.where(other > 0, other, own)
    ink_label, paper_label = np.where(on_ink, own, other), np.where(on_ink, other, own)
    flat[:, ys, xs] = cov * colours[ink_label].T + (1 - cov) * colours[paper_label].T
    return flat


def render_region(seg: Segmentation, stage: Tensor) -> Tensor:
    """A region stage at the segmentation's size from the model's stage image (C, R, R)."""
    model = ModelStage(stage, seg.labels.shape)
    colours = region_colours(model, seg.labels, seg.count)
    background = seg.border & (colours.min(1) >= WHITE_LEVEL)
    colours[background] = 1.0
    labels, colours = stroke_labels(seg, fill_strokes(seg, ~background), colours, model, background)
    return torch.from_numpy(np.clip(paint_regions(labels, seg.coverage, colours), -1, 1))


def _channels(x: Tensor, c: int) -> Tensor:
    return x if x.shape[0] == c else (x.mean(0, keepdim=True) if c == 1 else x.expand(c, -1, -1))


def render_smooth(previous: Tensor, model_previous: Tensor, model_stage: Tensor,
                  labels: np.ndarray | None = None) -> Tensor:
    """A smooth stage: the full-size ``previous`` stage plus the model's change from its previous stage
    to this one, upsampled with the full-size previous stage as the guide."""
    c = model_stage.shape[0]
    change = model_stage - _channels(model_previous, c)
    full = _channels(previous, c) + edge_aware_upsample(change, previous, labels)
    return full.clamp(-1, 1)


def _model_stages(stages: Sequence[Tensor]) -> list[Tensor]:
    out = []
    for i, s in enumerate(stages):
        s = s[0] if s.dim() == 4 and s.shape[0] == 1 else s
        if s.dim() != 3 or s.shape[0] not in (1, 3):
            raise ConfigError(f"model stage {i} must be (C, R, R) or (1, C, R, R) with 1 or 3 channels, got "
                              f"shape {tuple(stages[i].shape)}")
        out.append(s.detach().float().cpu())
    return out


def render_stages(first: Tensor, stages: Sequence[Tensor], kinds: Sequence[str], gap: int | None = None,
                  shape_width: float | None = None, seg: Segmentation | None = None) -> list[Tensor]:
    """Every stage at the size of ``first`` (C0, H, W) in [-1, 1], from the model's ``stages`` (stage 0
    being the model's version of ``first``) and the workflow's stage ``kinds``; entry 0 is ``first``.
    ``seg``, ``segment(first, gap, shape_width)`` made once, spares renders of one line art redoing it."""
    if len(stages) != len(kinds):
        raise ConfigError(f"{len(stages)} model stages but {len(kinds)} stage kinds; give one kind per stage")
    bad = [k for k in kinds if k not in STAGE_KINDS]
    if bad:
        raise ConfigError(f"stage kinds {bad} are not among {', '.join(STAGE_KINDS)}")
    if first.dim() != 3 or first.shape[0] not in (1, 3) or min(first.shape[-2:]) < 2:
        raise ConfigError(f"the first stage must be a (1 or 3, H, W) image, got shape {tuple(first.shape)}")
    model = _model_stages(stages)
    if seg is None and "region" in kinds[1:]:
        seg = segment(first, gap, shape_width)
    out = [first]
    for i in range(1, len(model)):
        if kinds[i] == "region":
            out.append(render_region(seg, model[i]))
        else:
            out.append(render_smooth(out[-1].float(), model[i - 1], model[i]))
    return out
