"""Every stage of a generated workflow at the first stage's own size.

The model decides what colour and what light; the full-size first stage decides where the edges are.
A region stage paints each region of the line art (``regions.segment``) with one colour read from the
model's stage, a smooth stage adds the model's change over the stage before it, brought to full size
edge-aware (``smooth.edge_aware_upsample``) so it follows the full-size edges."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor

from ..config import STAGE_KINDS
from ..errors import ConfigError
from .regions import INK_LEVEL, Segmentation, fill_strokes, segment
from .smooth import edge_aware_upsample

WHITE_LEVEL = 0.8
"""A region touching the border whose model colour is at least this light in every channel ([-1, 1])
is background, painted white as the data has it."""
SAMPLE_SIDE = 256
"""Region colours are read on a grid of about this many pixels a side (the model's colours vary no
faster), plus every pixel of a region the grid misses."""


def _model_image(stage: Tensor, size: tuple[int, int]) -> np.ndarray:
    """A model stage (C, R, R) or (1, C, R, R) as (C, H, W) float32, interpolated to ``size``."""
    x = stage.detach().float().cpu()
    x = x[0] if x.dim() == 4 else x
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0].numpy()


INTERIOR = 1.0
"""Region colours are read this many model pixels inside a region, beyond the model's blur across its
boundary (where the grid has such pixels; a thinner region is read whole)."""


def _medians(values: np.ndarray, keys: np.ndarray, count: int) -> np.ndarray:
    """(count + 1, C) per-key median of ``values`` (C, N); keys without values get NaN."""
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[:, order]
    starts = np.searchsorted(keys, np.arange(count + 1))
    ends = np.searchsorted(keys, np.arange(count + 1), side="right")
    out = np.full((count + 1, values.shape[0]), np.nan, np.float32)
    for k in np.nonzero(ends > starts)[0]:
        out[k] = np.median(values[:, starts[k]:ends[k]], axis=1)
    return out


def _interior(grid: np.ndarray, k: int) -> np.ndarray:
    """Where ``grid`` has the same label ``k`` cells up, down, left and right."""
    inside = np.ones(grid.shape, bool)
    if k < 1:
        return inside
    p = np.pad(grid, k, mode="edge")
    h, w = grid.shape
    for dy, dx in ((-k, 0), (k, 0), (0, -k), (0, k)):
        inside &= p[k + dy:k + dy + h, k + dx:k + dx + w] == grid
    return inside


def _read_colours(keys: np.ndarray, image: np.ndarray, count: int, step: int, preferred: np.ndarray,
                  usable: np.ndarray) -> np.ndarray:
    """(count + 1, C) median of ``image`` (C, H, W) per key 1..count of ``keys`` (H, W): over the grid
    samples (every ``step`` pixels) where ``preferred`` (grid-shaped) holds, for a key with none there
    over its grid samples where ``usable`` (H, W) holds, else over all its pixels there; NaN if none."""
    grid_keys, grid_image = keys[::step, ::step], image[:, ::step, ::step]
    colours = _medians(grid_image[:, preferred], grid_keys[preferred], count)
    for sample_keys, sample_image, mask in ((grid_keys, grid_image, usable[::step, ::step]), (keys, image, usable)):
        missed = np.isnan(colours[:, 0])
        missed[0] = False
        if missed.any():
            where = mask & missed[sample_keys]
            colours[missed] = _medians(sample_image[:, where], sample_keys[where], count)[missed]
    return colours


def _model_pixels(labels: np.ndarray, resolution: int, step: int, amount: float) -> int:
    """``amount`` model pixels in grid cells."""
    return int(np.ceil(amount * min(labels.shape) / resolution / step))


def region_colours(labels: np.ndarray, image: np.ndarray, count: int, resolution: int) -> np.ndarray:
    """(count + 1, C) median colour over each label 1..count of ``labels`` of ``image`` (C, H, W), the
    model's stage of ``resolution`` px interpolated to full size: read inside the region (``INTERIOR``)
    on a grid (``SAMPLE_SIDE``), else over all of the region's pixels."""
    step = max(1, min(labels.shape) // SAMPLE_SIDE)
    grid = labels[::step, ::step]
    inner = _interior(grid, _model_pixels(labels, resolution, step, INTERIOR))
    colours = _read_colours(labels, image, count, step, inner, labels > 0)
    colours[0] = 1.0
    return colours


def _other_side(labels: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Per pixel, a label found in its 3×3 neighbourhood among the pixels of ``side`` (0 if none)."""
    return ndimage.grey_dilation(np.where(side, labels, 0), size=(3, 3))


STROKE_AWAY = 2.0
STROKE_MERGE = 0.0
"""A stroke keeps a colour of its own where the model paints it at least this far (largest channel
difference, [-1, 1]) from the region it borders; nearer, it takes the region's colour."""


def stroke_labels(seg: Segmentation, labels: np.ndarray, colours: np.ndarray, image: np.ndarray,
                  background: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and colours with the strokes given to each region made a region of their own (label
    + count) where the model paints them in a colour of their own (``STROKE_MERGE``), read away from
    the ``background`` (``STROKE_AWAY``), where the model's blur mixes in the background's colour."""
    n = seg.count
    stroke = seg.labels == 0
    step = max(1, min(labels.shape) // SAMPLE_SIDE)
    grid = seg.labels[::step, ::step]
    k = _model_pixels(labels, resolution, step, STROKE_AWAY)
    near = ndimage.binary_dilation(background[grid], iterations=k) if k else np.zeros(grid.shape, bool)
    stroke_colours = _read_colours(labels, image, n, step, (grid == 0) & ~near, stroke)
    stroke_colours = np.nan_to_num(stroke_colours, nan=np.inf)
    keep = np.abs(stroke_colours - colours).max(1) >= STROKE_MERGE
    keep &= np.isfinite(stroke_colours[:, 0])
    keep[0] = False
    out = np.where(stroke & keep[labels], labels + n, labels).astype(np.int32)
    return out, np.concatenate([colours, np.where(np.isfinite(stroke_colours), stroke_colours, 1.0)])


def paint_regions(labels: np.ndarray, coverage: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(C, H, W) flat colour of ``labels``, every edge between ink and paper blended by the line art's
    ink ``coverage``, so the result is as anti-aliased as the line art."""
    cov = coverage
    ink = cov > INK_LEVEL
    edge = (cov > 0) & (cov < 1)
    ink_label, paper_label = labels.copy(), labels.copy()
    across_to_ink, across_to_paper = _other_side(labels, ink), _other_side(labels, ~ink)
    paper_edge = edge & ~ink & (across_to_ink > 0)
    ink_edge = edge & ink & (across_to_paper > 0)
    ink_label[paper_edge] = across_to_ink[paper_edge]
    paper_label[ink_edge] = across_to_paper[ink_edge]
    flat = colours[labels].transpose(2, 0, 1)
    mix = edge & (ink_label != paper_label)
    a = cov[mix]
    flat[:, mix] = a * colours[ink_label[mix]].T + (1 - a) * colours[paper_label[mix]].T
    return flat


def render_region(seg: Segmentation, stage: Tensor) -> Tensor:
    """A region stage at the segmentation's size from the model's stage image."""
    size = seg.labels.shape
    image = _model_image(stage, size)
    resolution = stage.shape[-1]
    colours = region_colours(seg.labels, image, seg.count, resolution)
    background = seg.border & (colours.min(1) >= WHITE_LEVEL)
    colours[background] = 1.0
    labels, colours = stroke_labels(seg, fill_strokes(seg, ~background), colours, image, background, resolution)
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
                  shape_width: float | None = None) -> list[Tensor]:
    """Every stage at the size of ``first`` (C0, H, W) in [-1, 1], from the model's ``stages`` (stage 0
    being the model's version of ``first``) and the workflow's stage ``kinds``; entry 0 is ``first``."""
    if len(stages) != len(kinds):
        raise ConfigError(f"{len(stages)} model stages but {len(kinds)} stage kinds; give one kind per stage")
    bad = [k for k in kinds if k not in STAGE_KINDS]
    if bad:
        raise ConfigError(f"stage kinds {bad} are not among {', '.join(STAGE_KINDS)}")
    if first.dim() != 3 or first.shape[0] not in (1, 3) or min(first.shape[-2:]) < 2:
        raise ConfigError(f"the first stage must be a (1 or 3, H, W) image, got shape {tuple(first.shape)}")
    model = _model_stages(stages)
    seg = segment(first, gap, shape_width) if "region" in kinds[1:] else None
    out = [first]
    for i in range(1, len(model)):
        if kinds[i] == "region":
            out.append(render_region(seg, model[i]))
        else:
            out.append(render_smooth(out[-1].float(), model[i - 1], model[i]))
    return out
