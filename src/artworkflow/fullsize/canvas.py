"""The artwork's own size: how large a full-size image may be, and the one place that shrinks a larger
one (the model itself always works at its resolution)."""
from __future__ import annotations

from typing import Callable

from torch import Tensor

from ..config import Range
from ..data.images import resize

MAX_SIZE = 2048
"""Default of ``--max-size``: the longest side rendered at full size."""
SIZE_RANGE = Range(64, 8192, integer=True)


def limit_size(image: Tensor, max_size: int = MAX_SIZE, source: str = "the image",
               notice: Callable[[str], None] | None = None) -> Tensor:
    """``image`` ((C, H, W) or (1, C, H, W)) as it is when its longest side is at most ``max_size``,
    else shrunk (antialiased, aspect ratio kept) so that it is, saying so in one line."""
    h, w = image.shape[-2:]
    if max(h, w) <= max_size:
        return image
    scale = max_size / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if notice is not None:
        notice(f"{source} is {w}×{h} px; rendering at {size[1]}×{size[0]} px, the --max-size of {max_size} "
               "(give a larger --max-size for more)")
    return resize(image, size)
