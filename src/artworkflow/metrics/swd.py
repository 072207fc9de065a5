"""Multi-scale sliced Wasserstein distance (Karras et al. 2018, "Progressive Growing of GANs").

Each image set is decomposed into a Laplacian pyramid; 7x7 neighbourhoods sampled from every level
are compared with the sliced Wasserstein distance, so the score reflects both fine texture and
coarse structure. Following the reference implementation, each set's descriptors are normalised
with that set's own per-channel statistics, which makes the score insensitive to a global
per-channel affine colour change; pass ``normalization="reference"`` to normalise both sets with
the statistics of ``a`` when such shifts should count.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

PATCH_SIZE = 7
MIN_RESOLUTION = 16
_CHUNK = 64
_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def _blur(x: Tensor, gain: float = 1.0) -> Tensor:
    """Separable 5-tap binomial filter with mirror borders (as cv2.pyrDown/pyrUp)."""
    b, c, h, w = x.shape
    k = torch.tensor(_BINOMIAL, dtype=x.dtype, device=x.device) / 16.0
    y = F.pad(x.reshape(b * c, 1, h, w), (2, 2, 2, 2), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, 5) * gain)
    y = F.conv2d(y, k.view(1, 1, 5, 1))
    return y.reshape(b, c, h, w)


def _pyr_down(x: Tensor) -> Tensor:
    return _blur(x)[:, :, ::2, ::2]


def _pyr_up(x: Tensor, size: tuple[int, int]) -> Tensor:
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _blur(up, gain=4.0)[:, :, : size[0], : size[1]]


def _laplacian_level(x: Tensor, level: int, num_levels: int) -> Tensor:
    """Level ``level`` of the Laplacian pyramid; the last level is the Gaussian residual."""
    for _ in range(level):
        x = _pyr_down(x)
    if level == num_levels - 1:
        return x
    return x - _pyr_up(_pyr_down(x), (x.shape[2], x.shape[3]))


def _generator(seed: int, *keys: int) -> torch.Generator:
    """Independent, reproducible stream per (seed, level, purpose)."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def _descriptors(images: Tensor, level: int, num_levels: int, per_image: int,
                 gen: torch.Generator) -> Tensor:
    """(N * per_image, C, 7, 7) neighbourhoods sampled uniformly from one pyramid level."""
    half = PATCH_SIZE // 2
    offsets = torch.arange(-half, half + 1, device=images.device)
    out: list[Tensor] = []
    for chunk in images.split(_CHUNK):
        lap = _laplacian_level(chunk, level, num_levels)
        n, c, h, w = lap.shape
        ys = torch.randint(half, h - half, (n, per_image), generator=gen).to(images.device)
        xs = torch.randint(half, w - half, (n, per_image), generator=gen).to(images.device)
        img = torch.arange(n, device=images.device).view(n, 1, 1, 1, 1)
        chan = torch.arange(c, device=images.device).view(1, 1, c, 1, 1)
        rows = (ys[:, :, None] + offsets).view(n, per_image, 1, PATCH_SIZE, 1)
        cols = (xs[:, :, None] + offsets).view(n, per_image, 1, 1, PATCH_SIZE)
        out.append(lap[img, chan, rows, cols].reshape(n * per_image, c, PATCH_SIZE, PATCH_SIZE))
    return torch.cat(out)


def _channel_stats(desc: Tensor) -> tuple[Tensor, Tensor]:
    mean = desc.mean(dim=(0, 2, 3), keepdim=True)
    std = desc.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-8)
    return mean, std


def _sliced_wasserstein(a: Tensor, b: Tensor, n_dirs: int, n_repeats: int,
                        gen: torch.Generator) -> float:
    """Mean over repeats of the mean |sorted projection difference| along random unit directions."""
    if a.shape[0] != b.shape[0]:
        n = min(a.shape[0], b.shape[0])
        a = a[torch.randperm(a.shape[0], generator=gen)[:n].to(a.device)]
        b = b[torch.randperm(b.shape[0], generator=gen)[:n].to(b.device)]
    results = []
    for _ in range(n_repeats):
        dirs = torch.randn(a.shape[1], n_dirs, generator=gen, dtype=torch.float64)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).to(device=a.device, dtype=a.dtype)
        proj_a = torch.sort((a @ dirs).T.contiguous(), dim=1).values
        proj_b = torch.sort((b @ dirs).T.contiguous(), dim=1).values
        results.append((proj_a - proj_b).abs().mean(dtype=torch.float64).item())
    return float(np.mean(results))


def _prepare(x: Tensor, name: str) -> Tensor:
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"`{name}` must be a (B, 1|3, H, W) tensor, got shape {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"`{name}` is empty")
    x = x.detach().float()
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def swd_resolutions(height: int, width: int) -> list[int]:
    """Pyramid resolutions (smaller side) from full size down to 16 px."""
    res, out = min(height, width), []
    while res >= MIN_RESOLUTION:
        out.append(res)
        res = (res + 1) // 2
    return out


@torch.no_grad()
def sliced_wasserstein(a: Tensor, b: Tensor, seed: int = 0, descriptors_per_image: int = 128,
                       n_dirs: int = 128, n_repeats: int = 4,
                       normalization: str = "separate") -> dict[str, float]:
    """Multi-scale SWD between two image sets in [-1, 1], scaled by 1e3 as in ProGAN.

    Returns ``{"swd_<res>": ..., "swd_avg": ...}`` with one entry per pyramid level from the full
    resolution down to 16 px. Results are deterministic for a given ``seed``, and identical sets
    give exactly 0 because both sets sample neighbourhoods at the same positions.
    """
    if normalization not in ("separate", "reference"):
        raise ValueError(f"normalization must be 'separate' or 'reference', got {normalization!r}")
    a, b = _prepare(a, "a"), _prepare(b, "b")
    if a.shape[2:] != b.shape[2:]:
        raise ValueError(f"image sizes differ: {tuple(a.shape[2:])} vs {tuple(b.shape[2:])}")
    resolutions = swd_resolutions(a.shape[2], a.shape[3])
    if not resolutions:
        raise ValueError(f"images must be at least {MIN_RESOLUTION} px, got {tuple(a.shape[2:])}")
    result: dict[str, float] = {}
    for level, res in enumerate(resolutions):
        desc_a = _descriptors(a, level, len(resolutions), descriptors_per_image, _generator(seed, level, 0))
        desc_b = _descriptors(b, level, len(resolutions), descriptors_per_image, _generator(seed, level, 0))
        mean_a, std_a = _channel_stats(desc_a)
        mean_b, std_b = (mean_a, std_a) if normalization == "reference" else _channel_stats(desc_b)
        desc_a = ((desc_a - mean_a) / std_a).flatten(1)
        desc_b = ((desc_b - mean_b) / std_b).flatten(1)
        dist = _sliced_wasserstein(desc_a, desc_b, n_dirs, n_repeats, _generator(seed, level, 1))
        result[f"swd_{res}"] = dist * 1e3
    result["swd_avg"] = float(np.mean(list(result.values())))
    return result
