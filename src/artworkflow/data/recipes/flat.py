"""Flat colouring from label masks: the face workflow's middle stage in the paper."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

WHITE = 255


def _check(rgb: np.ndarray, labels: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    if labels.shape != rgb.shape[:2]:
        raise ValueError(f"labels shape {labels.shape} does not match image shape {rgb.shape[:2]}")


def region_median_colours(rgb: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel median colour of every label region, as ``(unique_labels, colours)``.

    The lower median is used (an actual pixel value, never an average of two), so a region made
    of two colours gets its majority colour rather than a blend that appears nowhere in it.
    """
    _check(rgb, labels)
    unique, inverse = np.unique(labels.ravel(), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(unique))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = starts + (counts - 1) // 2
    pixels = rgb.reshape(-1, 3)
    colours = np.empty((len(unique), 3), dtype=rgb.dtype)
    for c in range(3):
        order = np.lexsort((pixels[:, c], inverse))
        colours[:, c] = pixels[order[pick], c]
    return unique, colours


def _background(labels: np.ndarray, background_labels: Iterable[int]) -> np.ndarray:
    return np.isin(labels, np.asarray(list(background_labels), dtype=labels.dtype))


def flat_colouring(rgb: np.ndarray, labels: np.ndarray, background_labels: Iterable[int] = (0,)) -> np.ndarray:
    """Fill each labelled region with its median colour and paint the background white."""
    unique, colours = region_median_colours(rgb, labels)
    index = np.searchsorted(unique, labels)
    out = colours[index].astype(np.uint8)
    out[_background(labels, background_labels)] = WHITE
    return out


def remove_background(rgb: np.ndarray, labels: np.ndarray, background_labels: Iterable[int] = (0,)) -> np.ndarray:
    """The image with background pixels painted white, as the face workflow's final stage."""
    _check(rgb, labels)
    out = rgb.astype(np.uint8, copy=True)
    out[_background(labels, background_labels)] = WHITE
    return out
