"""Differentiable augmentation of the critics' inputs (DiffAugment, Zhao et al. 2020): colour,
translation and cutout applied to real and generated images alike before every critic call, so a
critic trained on few images cannot memorise them while the generator still sees an unaugmented
target. Every draw is keyed by (seed, step, sample id, salt), like the latents, so an augmented step
is the same on one process or several and after a resume."""
from __future__ import annotations

import torch
from torch import Tensor

TRANSLATION = 1 / 8
CUTOUT = 1 / 2


def keyed_uniform(seed: int, step: int, sample_ids: Tensor, salt: int, dim: int) -> Tensor:
    """(N, dim) uniforms in [0, 1), one row per sample, each a function of its key only."""
    rows = []
    for sid in sample_ids.tolist():
        key = (((seed * 1_000_003 + step) * 1_000_033 + sid) * 1013 + salt) % (2 ** 63)
        rows.append(torch.rand(dim, generator=torch.Generator().manual_seed(key)))
    return torch.stack(rows)


def _color(x: Tensor, u: Tensor) -> Tensor:
    """Brightness ±0.5, saturation ×[0, 2) (colour images), contrast ×[0.5, 1.5), in [-1, 1] units."""
    b, s, c = (u[:, k].view(-1, 1, 1, 1) for k in range(3))
    x = x + (b - 0.5)
    if x.shape[1] == 3:
        mean = x.mean(1, keepdim=True)
        x = (x - mean) * (2 * s) + mean
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (c + 0.5) + mean


def _translation(x: Tensor, u: Tensor) -> Tensor:
    """Shift each image by up to 1/8 of its size in both axes, filling with zeros (mid-grey)."""
    n, _, h, w = x.shape
    ph, pw = int(h * TRANSLATION + 0.5), int(w * TRANSLATION + 0.5)
    padded = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    dy = (u[:, 3] * (2 * ph + 1)).long().clamp(max=2 * ph)
    dx = (u[:, 4] * (2 * pw + 1)).long().clamp(max=2 * pw)
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def _cutout(x: Tensor, u: Tensor) -> Tensor:
    """Zero one square of half the image size at a random centre (clipped at the borders)."""
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    top = ((u[:, 5] * h).long() - ch // 2).view(n, 1, 1)
    left = ((u[:, 6] * w).long() - cw // 2).view(n, 1, 1)
    ys, xs = torch.arange(h, device=x.device).view(1, h, 1), torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: Tensor, policy: tuple[str, ...], u: Tensor) -> Tensor:
    """Apply ``policy`` to a batch with the per-sample draws ``u`` (N, 7) from ``keyed_uniform``; the
    result keeps the input's memory format."""
    u = u.to(x.device)
    channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    if "color" in policy:
        x = _color(x, u.to(x.dtype))
    if "translation" in policy:
        x = _translation(x, u)
    if "cutout" in policy:
        x = _cutout(x, u)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
