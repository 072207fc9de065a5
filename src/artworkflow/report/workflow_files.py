"""The one writer of a workflow's stages as files: a strip (all stages side by side, PNG) and an
animated GIF (one frame per stage), each written through a temporary file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from torch import Tensor

from ..data.images import make_grid, save_image, to_pil

FRAME_MS = 700


def _image(stage: Tensor) -> Tensor:
    """A stage as one (C, H, W) image: a (1, C, H, W) batch of one is unwrapped."""
    return stage[0] if stage.dim() == 4 else stage


def write_strip(stages: Sequence[Tensor], path: str | os.PathLike) -> Path:
    return save_image(make_grid([[_image(s) for s in stages]]), path)


def write_gif(stages: Sequence[Tensor], path: str | os.PathLike, frame_ms: int = FRAME_MS) -> Path:
    """Looping, so that a viewer sees the artwork being built stage by stage again and again."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [to_pil(_image(s)).convert("RGB") for s in stages]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
