"""Pencil sketch: the first stage of the face, anime and chair workflows in the paper."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

_LUMA = np.array([0.299, 0.587, 0.114])


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma as float in [0, 255], the grey that PIL's ``convert('L')`` uses."""
    if rgb.ndim == 2:
        return rgb.astype(np.float64)
    return rgb[..., :3].astype(np.float64) @ _LUMA


def pencil_sketch(rgb: np.ndarray, sigma: float | None = None, darkness: float = 2.0) -> np.ndarray:
    """Dark pencil lines on white paper from an RGB image.

    Colour dodge of the grey image by a Gaussian-blurred copy of its inverse: flat areas divide
    to white, and only pixels next to a change in brightness stay grey. ``darkness`` (a gamma on
    the dodge result) deepens those greys so lines read clearly. ``sigma`` defaults to 1/64 of the
    shorter side (2 px at 128 px), which keeps line width proportional to the image.
    """
    if rgb.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {rgb.shape}")
    if darkness <= 0:
        raise ValueError("darkness must be positive")
    grey = to_grey(rgb)
    if sigma is None:
        sigma = max(1.0, min(grey.shape) / 64.0)
    blurred_inverse = gaussian_filter(255.0 - grey, sigma=sigma, mode="nearest")
    dodge = grey * 255.0 / np.maximum(255.0 - blurred_inverse, 1.0)
    dodge = np.clip(dodge / 255.0, 0.0, 1.0) ** darkness
    return np.round(dodge * 255.0).astype(np.uint8)
