"""Files and folders written so that a reader, or a run killed at any moment, sees the old content
or the new, never half: the saved models' and the checkpoints' common ground."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from torch import nn


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict as contiguous CPU tensors, as safetensors writes them."""
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


def fsync_dir(directory: Path) -> None:
    """Flush every file of ``directory`` to disk before it is renamed into place."""
    for f in directory.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def replace_dir(src: Path, dst: Path) -> None:
    """Move a finished folder into place; the old one is renamed aside first and removed last."""
    old = dst.with_name(dst.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    if old.exists():
        shutil.rmtree(old)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``path`` so that a reader, or a resume after a kill, sees the old text or the new, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
