"""Synthetic line art with known regions, and model stages that paint them."""
from __future__ import annotations

import numpy as np
import pytest
import torch


def box(img: np.ndarray, top: int, left: int, bottom: int, right: int, width: int) -> None:
    """Draw the outline of a box (inclusive corners) as ink (-1) ``width`` pixels wide."""
    img[top:bottom + 1, left:left + width] = -1
    img[top:bottom + 1, right - width + 1:right + 1] = -1
    img[top:top + width, left:right + 1] = -1
    img[bottom - width + 1:bottom + 1, left:right + 1] = -1


def line_art(height: int, width: int, draw) -> torch.Tensor:
    """(1, H, W) white paper in [-1, 1] with the ink ``draw(img)`` puts on it."""
    img = np.ones((height, width), np.float32)
    draw(img)
    return torch.from_numpy(img)[None]


@pytest.fixture
def two_boxes() -> torch.Tensor:
    """Two closed boxes side by side (left 8..39, right 40..71 in x; 8..55 in y) on 64×80 paper, 3 px
    strokes, the middle stroke shared; a filled square of ink (ink shape) 24×24 below-right is absent."""
    def draw(img):
        box(img, 8, 8, 55, 71, 3)
        img[8:56, 39:42] = -1
    return line_art(64, 80, draw)


def paint(height: int, width: int, colours: list[tuple[tuple[slice, slice], tuple[float, float, float]]],
          resolution: int = 32, background: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """A model stage (1, 3, R, R): the full-size picture given by ``colours`` (rectangles in full-size
    pixels, later ones over earlier ones) shrunk to the model's resolution, as a model's blurry output would be."""
    full = torch.tensor(background, dtype=torch.float32)[:, None, None].repeat(1, height, width)
    for (ys, xs), c in colours:
        full[:, ys, xs] = torch.tensor(c, dtype=torch.float32)[:, None, None]
    return torch.nn.functional.interpolate(full[None], size=(resolution, resolution), mode="bilinear",
                                           antialias=True, align_corners=False)
