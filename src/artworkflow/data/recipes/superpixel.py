"""Rough colouring from superpixels: the anime workflow's middle stage in the paper."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter
from skimage.segmentation import slic

from .flat import region_median_colours


def rough_colouring(rgb: np.ndarray, n_segments: int = 250, compactness: float = 10.0,
                    median_size: int = 5) -> np.ndarray:
    """Blocky colour layout of an image: SLIC superpixels filled with their median colour, then
    smoothed with a per-channel median filter so segment edges look painted rather than tiled.

    ``median_size`` of 1 or less skips the filter; it should be odd so the median is a pixel value.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    segments = slic(rgb, n_segments=n_segments, compactness=compactness, start_label=0, channel_axis=-1)
    unique, colours = region_median_colours(rgb, segments)
    out = colours[np.searchsorted(unique, segments)].astype(np.uint8)
    if median_size > 1:
        out = np.stack([median_filter(out[..., c], size=median_size, mode="nearest") for c in range(3)], axis=-1)
    return out
