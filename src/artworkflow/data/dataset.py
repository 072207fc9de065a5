"""Paired multi-stage dataset: every item yields one tensor per workflow stage, augmented identically
so the stages stay pixel-aligned."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..config import WorkflowSpec
from ..errors import ConfigError, DatasetError
from .images import load_image, resize
from .layout import item_paths, read_spec


def default_load_size(resolution: int) -> int:
    """The pix2pix/BicycleGAN ratio: resize to 286 and crop 256, scaled to any resolution."""
    return round(resolution * 286 / 256)


def augment_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed that depends only on (seed, epoch, index), so crops and flips are the same in any
    worker process and after resuming, unlike Python's salted hash or a shared global generator."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def crop_and_flip(stages: list[torch.Tensor], resolution: int, generator: torch.Generator,
                  flip: bool) -> list[torch.Tensor]:
    """One crop window and one flip decision applied to all stages of an item."""
    h, w = stages[0].shape[-2:]
    top = int(torch.randint(0, h - resolution + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - resolution + 1, (1,), generator=generator))
    mirror = bool(torch.rand((), generator=generator) < 0.5)
    out = [t[:, top:top + resolution, left:left + resolution] for t in stages]
    return [t.flip(-1) for t in out] if flip and mirror else out


class StageDataset(Dataset):
    """Items of one split as lists of (C_s, R, R) tensors in stage order, values in [-1,1].

    With ``num_workers > 0`` call ``set_epoch`` before creating each epoch's iterator and keep
    ``persistent_workers=False`` so the workers see the new epoch."""

    def __init__(self, root: str | os.PathLike, split: str = "train", resolution: int = 64,
                 load_size: int | None = None, train: bool = True, flip: bool = True, seed: int = 0) -> None:
        self.root = Path(root)
        self.split = split
        self.spec: WorkflowSpec = read_spec(self.root)
        self._paths = item_paths(self.root, split, check_sizes=True)
        self.ids: list[str] = list(self._paths)
        if not self.ids:
            raise DatasetError(f"{self.root / split}: no images in the stage folders; add images first")
        self.resolution = resolution
        self.load_size = default_load_size(resolution) if load_size is None else load_size
        if self.load_size < resolution:
            raise ConfigError(f"load_size {self.load_size} is smaller than resolution {resolution}; "
                              "it must be at least the crop size")
        self.train = train
        self.flip = flip
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation of this epoch; the same epoch always gives the same crops."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ids)

    def paths(self, index: int) -> tuple[Path, ...]:
        return self._paths[self.ids[index]]

    def __getitem__(self, index: int) -> list[torch.Tensor]:
        return self.item(index, self.epoch)

    def item(self, index: int, epoch: int) -> list[torch.Tensor]:
        """Item ``index`` with the augmentation of ``epoch``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        images = [load_image(p, s.channels) for p, s in zip(self.paths(index), self.spec.stages)]
        if not self.train:
            return [resize(t, self.resolution) for t in images]
        images = [resize(t, self.load_size) for t in images]
        generator = torch.Generator().manual_seed(augment_seed(self.seed, epoch, index))
        return crop_and_flip(images, self.resolution, generator, self.flip)


def collate_stages(batch: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Stack a batch of items into one (B,C,R,R) tensor per stage."""
    if not batch:
        raise ValueError("cannot collate an empty batch")
    n = len(batch[0])
    if any(len(item) != n for item in batch):
        raise ValueError("all items in a batch must have the same number of stages")
    return [torch.stack([item[s] for item in batch]) for s in range(n)]
