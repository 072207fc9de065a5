"""Reading the model's colour of each region of a full-size segmentation.

The model's stage is interpolated (bilinearly, as ``F.interpolate``) only where it is read: on a grid
of about ``SAMPLE_SIDE`` points a side, which the model's colours, varying no faster, need no more
than, and at every pixel of a region the grid misses. A region's colour is the median of its samples
read away from its boundary, where the model's blur mixes in its neighbours' colours."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor

SAMPLE_SIDE = 256
"""Colours are read on a grid of about this many points a side."""
INTERIOR = 1.0
"""A region's colour is read this many model pixels inside it (measured: docs/results.md, Full-size
rendering); a region too thin for that is read whole."""


@dataclass(frozen=True)
class ModelStage:
    """One model stage image (C, R, R) and the full size (H, W) it is read at."""

    image: Tensor
    size: tuple[int, int]

    @property
    def resolution(self) -> int:
        return self.image.shape[-1]

    @property
    def step(self) -> int:
        """The grid's spacing in full-size pixels."""
        return max(1, min(self.size) // SAMPLE_SIDE)

    def cells(self, model_pixels: float) -> int:
        """``model_pixels`` model pixels in grid cells (rounded up)."""
        return int(np.ceil(model_pixels * min(self.size) / self.resolution / self.step))

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """(C, N) colours at full-size pixels (ys, xs), as the bilinear interpolation to full size."""
        h, w = self.size
        gx = (xs.astype(np.float32) + 0.5) / w * 2 - 1
        gy = (ys.astype(np.float32) + 0.5) / h * 2 - 1
        where = torch.from_numpy(np.stack([gx, gy], -1))[None, None]
        return F.grid_sample(self.image[None], where, mode="bilinear", padding_mode="border",
                             align_corners=False)[0, :, 0].numpy()

    def grid(self) -> np.ndarray:
        """(C, h, w) colours at every ``step``-th full-size pixel."""
        ys, xs = np.meshgrid(np.arange(0, self.size[0], self.step), np.arange(0, self.size[1], self.step),
                             indexing="ij")
        return self.at(ys.ravel(), xs.ravel()).reshape(-1, *ys.shape)


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


def interior(grid: np.ndarray, k: int) -> np.ndarray:
    """Where ``grid`` has the same label ``k`` cells up, down, left and right."""
    inside = np.ones(grid.shape, bool)
    if k < 1:
        return inside
    p = np.pad(grid, k, mode="edge")
    h, w = grid.shape
    for dy, dx in ((-k, 0), (k, 0), (0, -k), (0, k)):
        inside &= p[k + dy:k + dy + h, k + dx:k + dx + w] == grid
    return inside


def read_colours(stage: ModelStage, keys: np.ndarray, count: int, preferred: np.ndarray,
                 usable: np.ndarray) -> np.ndarray:
    """(count + 1, C) median model colour per key 1..count of ``keys`` (H, W): over the grid points where
    ``preferred`` (grid-shaped) holds; for a key with none there, over its grid points where ``usable``
    (H, W) holds, else over all its pixels there; NaN for a key with none at all."""
    step = stage.step
    grid_keys, grid_colours = keys[::step, ::step], stage.grid()
    colours = _medians(grid_colours[:, preferred], grid_keys[preferred], count)
    missed = np.isnan(colours[:, 0])
    missed[0] = False
    if missed.any():
        where = usable[::step, ::step] & missed[grid_keys]
        colours[missed] = _medians(grid_colours[:, where], grid_keys[where], count)[missed]
    missed = np.isnan(colours[:, 0])
    missed[0] = False
    if missed.any():
        ys, xs = np.nonzero(usable & missed[keys])
        colours[missed] = _medians(stage.at(ys, xs), keys[ys, xs], count)[missed]
    return colours


def region_colours(stage: ModelStage, labels: np.ndarray, count: int) -> np.ndarray:
    """(count + 1, C) colour of each label 1..count of ``labels`` (0: white)."""
    grid = labels[::stage.step, ::stage.step]
    colours = read_colours(stage, labels, count, interior(grid, stage.cells(INTERIOR)) & (grid > 0), labels > 0)
    colours[0] = 1.0
    return colours


def away_from(stage: ModelStage, mask: np.ndarray, model_pixels: float) -> np.ndarray:
    """Grid points farther than ``model_pixels`` model pixels from the full-size ``mask``."""
    near = mask[::stage.step, ::stage.step]
    k = stage.cells(model_pixels)
    return ~ndimage.binary_dilation(near, iterations=k) if k else ~near
