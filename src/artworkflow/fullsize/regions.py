"""The regions of line art at its own size: where a flat colour stage changes colour.

Ink is told apart by thickness: a stroke (thinner than ``shape_width``) is a boundary between
regions, while ink thick enough to hold a disc of that width is a filled shape that the colour stages
paint like any region (high-contrast line art draws hearts, ribbons and faces as solid black). The
paper between strokes is split by trapped-ball filling: a ball of diameter ``gap`` cannot pass a gap
narrower than itself, so strokes that almost meet still close a region; the pixels the ball cannot
reach go to the nearest region it reached within the same stretch of paper."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from torch import Tensor

from ..errors import ConfigError

INK_LEVEL = 0.5
"""Ink coverage above which a pixel counts as ink."""
GAP_FRACTION = 8 / 256
"""Default widest gap closed, as a fraction of the shorter side (8 px at 256)."""
SHAPE_FRACTION = 20 / 256
"""Default width from which ink is a filled shape, as a fraction of the shorter side: Fluent's
strokes are about 16 px wide at 256 px and its filled shapes wider than 20."""
MIN_SHAPE_DISCS = 2.0
"""A thick part smaller than this many discs of ``shape_width`` is where strokes meet, not a shape."""


@dataclass(frozen=True)
class Segmentation:
    """Regions of one line art. ``labels`` (H, W) int32 numbers paper regions and filled shapes from 1;
    0 marks stroke pixels, which belong to no region until ``fill_strokes`` gives them one.
    ``shape`` and ``border`` say per label (index 0 unused) whether it is a filled shape and whether
    it touches the image border; ``coverage`` (H, W) is each pixel's ink coverage in [0, 1]."""

    labels: np.ndarray
    coverage: np.ndarray
    shape: np.ndarray
    border: np.ndarray

    @property
    def count(self) -> int:
        return len(self.shape) - 1


def ink_coverage(first: Tensor) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how dark each pixel of a (C, H, W) first stage in [-1, 1] is."""
    if first.dim() != 3 or first.shape[0] not in (1, 3):
        raise ConfigError(f"the first stage must be a (1 or 3, H, W) image, got shape {tuple(first.shape)}")
    grey = first.detach().float().cpu().mean(0).numpy()
    return np.clip((1.0 - grey) * 0.5, 0.0, 1.0).astype(np.float32)


def default_gap(height: int, width: int) -> int:
    return max(1, round(min(height, width) * GAP_FRACTION))


def default_shape_width(height: int, width: int) -> float:
    return max(3.0, min(height, width) * SHAPE_FRACTION)


COARSE_STEP = 4
"""The distance tests (ball, disc) run on blocks small enough that their radius spans this many."""


def _blocks_all(mask: np.ndarray, f: int) -> np.ndarray:
    """Per f×f block (the last ones padded with False), whether the whole block is in ``mask``."""
    h, w = mask.shape
    padded = np.zeros((-(-h // f) * f, -(-w // f) * f), bool)
    padded[:h, :w] = mask
    return padded.reshape(padded.shape[0] // f, f, -1, f).all(axis=(1, 3))


def _full(blocks: np.ndarray, f: int, shape: tuple[int, int]) -> np.ndarray:
    return np.repeat(np.repeat(blocks, f, 0), f, 1)[:shape[0], :shape[1]]


def _step(radius: float) -> int:
    """The block side (a power of two) at which a distance test of ``radius`` is made."""
    return 1 << max(0, int(np.log2(max(radius / COARSE_STEP, 1.0))))


def _deeper_than(mask: np.ndarray, radius: float) -> np.ndarray:
    """The pixels of ``mask`` farther than ``radius`` from its outside, on blocks of ``_step(radius)``
    pixels (exact at radii under twice ``COARSE_STEP``, within a block above)."""
    f = _step(radius)
    blocks = ndimage.distance_transform_edt(_blocks_all(mask, f)) * f > radius
    return _full(blocks, f, mask.shape) & mask


def _opening(mask: np.ndarray, radius: float) -> np.ndarray:
    """The union of the discs of ``radius`` that fit in ``mask``. The centres are found on blocks of
    f = ``_step`` pixels and the discs drawn on blocks of f / 4, grown by such a block's diagonal so
    that the union reaches ``mask``'s own edges, which then cut it: exact along those edges, a few
    pixels too far inside the mask (where a stroke joins a shape)."""
    f = _step(radius)
    g = max(1, f // 4)
    centres = ndimage.distance_transform_edt(_blocks_all(mask, f)) * f > radius
    if not centres.any():
        return np.zeros(mask.shape, bool)
    fine = np.repeat(np.repeat(centres, f // g, 0), f // g, 1)
    grown = radius + (1.5 * g if g > 1 else 0)
    return _full(ndimage.distance_transform_edt(~fine) * g <= grown, g, mask.shape) & mask


def filled_shapes(ink: np.ndarray, width: float) -> np.ndarray:
    """The ink that holds discs of diameter ``width``, without the small blobs where strokes meet."""
    thick = _opening(ink, width / 2)
    parts, n = ndimage.label(thick)
    if n == 0:
        return thick
    areas = np.bincount(parts.ravel(), minlength=n + 1)
    keep = areas >= MIN_SHAPE_DISCS * np.pi * (width / 2) ** 2
    keep[0] = False
    return keep[parts]


def _trapped_ball(paper: np.ndarray, gap: int) -> tuple[np.ndarray, int]:
    """Label the paper so that regions joined only through gaps narrower than ``gap`` stay apart."""
    core, n = ndimage.label(_deeper_than(paper, gap / 2))
    stretch, _ = ndimage.label(paper)
    labels = np.zeros(paper.shape, np.int32)
    if n:
        _, (iy, ix) = ndimage.distance_transform_edt(core == 0, return_indices=True)
        same = stretch[iy, ix] == stretch
        labels = np.where(paper & same, core[iy, ix], 0).astype(np.int32)
    rest = paper & (labels == 0)
    if rest.any():  # stretches of paper too narrow for the ball: each is a region of its own
        extra, n_extra = ndimage.label(rest)
        labels[rest] = extra[rest] + n
        n += n_extra
    return labels, n


def _touches_border(labels: np.ndarray, count: int) -> np.ndarray:
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    out = np.zeros(count + 1, bool)
    out[edge] = True
    out[0] = False
    return out


def segment(first: Tensor, gap: int | None = None, shape_width: float | None = None) -> Segmentation:
    """Paper regions (gaps up to ``gap`` px closed) and filled ink shapes of a (C, H, W) first stage."""
    h, w = first.shape[-2:]
    gap = default_gap(h, w) if gap is None else gap
    shape_width = default_shape_width(h, w) if shape_width is None else shape_width
    if gap < 0 or shape_width <= 0:
        raise ConfigError(f"gap is {gap} and shape_width {shape_width}; use gap >= 0 and shape_width > 0")
    coverage = ink_coverage(first)
    ink = coverage > INK_LEVEL
    labels, n = _trapped_ball(~ink, gap)
    shapes, n_shapes = ndimage.label(filled_shapes(ink, shape_width))
    labels[shapes > 0] = shapes[shapes > 0] + n
    shape = np.zeros(n + n_shapes + 1, bool)
    shape[n + 1:] = True
    return Segmentation(labels, coverage, shape, _touches_border(labels, n + n_shapes))


def fill_strokes(seg: Segmentation, sources: np.ndarray, reach: float | None = None) -> np.ndarray:
    """Labels with every stroke pixel given to the nearest region whose label ``sources`` admits (a
    bool per label), as a colour stage paints over its line art's strokes. Stroke pixels farther than
    ``reach`` (default: the shape width) from every such region take the nearest region of any kind."""
    labels = seg.labels
    h, w = labels.shape
    reach = default_shape_width(h, w) if reach is None else reach
    allowed = sources[labels] & (labels > 0)
    out = labels.copy()
    stroke = labels == 0
    if allowed.any():
        dist, (iy, ix) = ndimage.distance_transform_edt(~allowed, return_indices=True)
        near = stroke & (dist <= reach)
        out[near] = labels[iy[near], ix[near]]
    left = out == 0
    if left.any() and (labels > 0).any():
        _, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        out[left] = labels[iy[left], ix[left]]
    return out


def line_regions(first: Tensor, gap: int | None = None, shape_width: float | None = None) -> np.ndarray:
    """(H, W) int32 labels from 1 of a (C, H, W) first stage in [-1, 1]: paper regions with gaps up to
    ``gap`` px closed (default: 8 px at 256, in proportion) and filled ink shapes; strokes are given to
    the regions beside them, to the inner side where a region touches the image border (background)."""
    seg = segment(first, gap, shape_width)
    return fill_strokes(seg, ~seg.border)
