"""Regions of a finished artwork at its own size, and the transfer of a model-size change onto a
full-size stage. Editing works at the model's resolution; these two let its result be the user's own
artwork plus the change the edit made, region by region for region stages and edge-aware for the rest."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.measure import label as connected
from skimage.segmentation import watershed
from torch import Tensor

from .smooth import edge_aware_upsample

EDGE = 0.12
"""Gradient magnitude (Sobel, summed over RGB in [0, 1]) above which a pixel is a region's edge rather
than its shading: flat-colour boundaries are steep, light and shadow are gentle."""
MIN_SEED = 4
"""Pixels a region's seed needs; smaller specks of calm pixels are left to the watershed."""


def upsample(image: Tensor, size: tuple[int, int]) -> Tensor:
    """A model-size (C, r, r) image bilinearly at (C, H, W)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image.float()
    return F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False)[0]


def artwork_regions(artwork: Tensor) -> np.ndarray:
    """Regions of a finished artwork at its own size ((C, H, W) in [-1, 1]): the connected areas of calm
    colour are seeds, grown over the steep edges between them by a watershed on the artwork's own
    gradient, so every region ends at an edge of the artwork. Returns int32 labels 0..n-1, (H, W)."""
    art = ((artwork.float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    gradient = sum(np.hypot(ndimage.sobel(c, 0), ndimage.sobel(c, 1)) for c in art) / 8
    seeds, n = ndimage.label(gradient < EDGE)
    if n == 0:
        return np.zeros(gradient.shape, np.int32)
    sizes = np.bincount(seeds.ravel(), minlength=n + 1)
    seeds[sizes[seeds] < MIN_SEED] = 0
    grown = watershed(gradient, seeds) if seeds.any() else np.ones_like(seeds)
    return (connected(grown, background=-1, connectivity=1) - 1).astype(np.int32)


PAPER = 0.92
"""A region whose mean is above this in every channel ([-1, 1]) and that touches the border is the
paper the artwork is drawn on (Fluent's white background), which every stage keeps as it is."""


def paper(labels: np.ndarray, image: Tensor) -> np.ndarray:
    """Which regions are the paper: near-white in ``image`` and touching the border; (n,) bool."""
    border = np.zeros(int(labels.max()) + 1, bool)
    border[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    return border & (region_means(image, labels).min(1).values > PAPER).numpy()


def region_means(image: Tensor, labels: np.ndarray) -> Tensor:
    """Mean of a full-size (C, H, W) image over each region: (n, C)."""
    n = int(labels.max()) + 1
    idx = torch.from_numpy(labels.reshape(-1).astype(np.int64))
    flat = image.float().reshape(image.shape[0], -1)
    sums = torch.zeros(image.shape[0], n).index_add_(1, idx, flat)
    counts = torch.bincount(idx, minlength=n).clamp_min(1)
    return (sums / counts).T


def paint(labels: np.ndarray, colours: Tensor) -> Tensor:
    """A (C, H, W) image with region k in ``colours[k]``."""
    return colours[torch.from_numpy(labels.astype(np.int64))].permute(2, 0, 1).contiguous()


def region_stage(model_stage: Tensor, labels: np.ndarray) -> Tensor:
    """A region stage at full size: every region in the mean colour the model gives it."""
    return paint(labels, region_means(upsample(model_stage, labels.shape), labels))


def transfer_change(full_before: Tensor, before: Tensor, after: Tensor, kind: str, labels: np.ndarray,
                    guide: Tensor) -> Tensor:
    """``full_before`` plus the change ``after - before`` (model size) at full size: one shift per region
    for a region stage, edge-aware upsampled (guided by ``guide``, not crossing ``labels``' edges) for
    any other, so the full-size detail of ``full_before`` stays."""
    if torch.equal(before, after):
        return full_before
    change = (after - before).float()
    if kind == "region":
        moved = paint(labels, region_means(upsample(change, labels.shape), labels))
    else:
        moved = edge_aware_upsample(change, guide, labels)
    return (full_before.float() + moved).clamp(-1, 1)


def sharpen(line: Tensor, gain: float = 3.0) -> Tensor:
    """Line art upsampled from the model's size, its soft strokes steepened back towards ink and paper."""
    return (line.float() * gain).clamp(-1, 1)
