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
from torch import Tensor

PATCH_SIZE = 7
MIN_RESOLUTION = 16
_CHUNK = 64


def _down_axis(x: Tensor, dim: int) -> Tensor:
    """Binomial blur along ``dim`` with mirror borders, evaluated only at the even positions kept."""
    n = x.shape[dim]
    p = torch.cat([x.narrow(dim, 2, 1), x.narrow(dim, 1, 1), x, x.narrow(dim, n - 2, 1),
                   x.narrow(dim, n - 3, 1)], dim=dim)
    lead = (slice(None),) * (dim % x.dim())
    taps = [p[lead + (slice(k, k + n, 2),)] for k in range(5)]
    return (taps[0] + taps[4] + 4.0 * (taps[1] + taps[3]) + 6.0 * taps[2]) / 16.0


def _up_axis(x: Tensor, dim: int, size: int) -> Tensor:
    """Zero-insertion upsampling by 2 then the binomial blur (gain 2) along ``dim``, computed per phase.

    With mirror borders on the zero-inserted signal, even outputs are (x[j-1] + 6x[j] + x[j+1]) / 8
    and odd outputs (x[j] + x[j+1]) / 2, where x[-1] = x[1] and x[n] = x[n-1].
    """
    n = x.shape[dim]
    p = torch.cat([x.narrow(dim, 1, 1), x, x.narrow(dim, n - 1, 1)], dim=dim)
    left, mid, right = p.narrow(dim, 0, n), p.narrow(dim, 1, n), p.narrow(dim, 2, n)
    even = (left + 6.0 * mid + right) / 8.0
    odd = (mid + right) / 2.0
    d = dim % x.dim()
    out = torch.stack([even, odd], dim=d + 1).flatten(d, d + 1)
    return out.narrow(d, 0, size)


def _pyr_down(x: Tensor) -> Tensor:
    """Blur and halve (as cv2.pyrDown: 5-tap [1, 4, 6, 4, 1] / 16, mirror borders)."""
    return _down_axis(_down_axis(x, -1), -2)


def _pyr_up(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Double and blur (as cv2.pyrUp), cropped to ``size``."""
    return _up_axis(_up_axis(x, -1, size[1]), -2, size[0])


def _laplacian_pyramid(x: Tensor, num_levels: int) -> list[Tensor]:
    """Band-pass levels from full resolution down; the last level is the low-pass residual."""
    levels = []
    for _ in range(num_levels - 1):
        low = _pyr_down(x)
        levels.append(x - _pyr_up(low, (x.shape[2], x.shape[3])))
        x = low
    levels.append(x)
    return levels


def _generator(seed: int, *keys: int) -> torch.Generator:
    """Independent, reproducible stream per (seed, level, purpose)."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def _sample_patches(level: Tensor, per_image: int, gen: torch.Generator) -> Tensor:
    """(N * per_image, C, 7, 7) neighbourhoods at uniformly random positions of one level."""
    half = PATCH_SIZE // 2
    n, c, h, w = level.shape
    device = level.device
    offsets = torch.arange(-half, half + 1, device=device)
    ys = torch.randint(half, h - half, (n, per_image), generator=gen).to(device)
    xs = torch.randint(half, w - half, (n, per_image), generator=gen).to(device)
    img = torch.arange(n, device=device).view(n, 1, 1, 1, 1)
    chan = torch.arange(c, device=device).view(1, 1, c, 1, 1)
    rows = (ys[:, :, None] + offsets).view(n, per_image, 1, PATCH_SIZE, 1)
    cols = (xs[:, :, None] + offsets).view(n, per_image, 1, 1, PATCH_SIZE)
    return level[img, chan, rows, cols].reshape(n * per_image, c, PATCH_SIZE, PATCH_SIZE)


def _descriptors(images: Tensor, num_levels: int, per_image: int, seed: int) -> list[Tensor]:
    """Per pyramid level, the sampled neighbourhoods of all images (processed in chunks)."""
    gens = [_generator(seed, level, 0) for level in range(num_levels)]
    out: list[list[Tensor]] = [[] for _ in range(num_levels)]
    for chunk in images.split(_CHUNK):
        for level, band in enumerate(_laplacian_pyramid(chunk, num_levels)):
            out[level].append(_sample_patches(band, per_image, gens[level]))
    return [torch.cat(parts) for parts in out]


def _channel_stats(desc: Tensor) -> tuple[Tensor, Tensor]:
    mean = desc.mean(dim=(0, 2, 3), keepdim=True)
    std = desc.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-8)
    return mean, std


def _sorted_projections(x: Tensor, dirs: Tensor) -> np.ndarray:
    """(directions, N) projections of the rows of ``x``, each row sorted.

    Projections are produced direction-major so each sort runs over contiguous memory; on CPU,
    numpy's sort is used because it is much faster than torch's.
    """
    proj = dirs.T @ x.T
    if proj.device.type != "cpu":
        return torch.sort(proj, dim=1).values.cpu().numpy()
    return np.sort(proj.numpy(), axis=1)


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
        proj_a, proj_b = _sorted_projections(a, dirs), _sorted_projections(b, dirs)
        results.append(float(np.abs(proj_a - proj_b).mean(dtype=np.float64)))
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
def swd_descriptors(images: Tensor, seed: int = 0, descriptors_per_image: int = 128) -> list[Tensor]:
    """Per pyramid level, the (N * per_image, C, 7, 7) neighbourhoods of an image set in [-1, 1],
    image-major, so that a subset (or a bootstrap resample) of images selects whole blocks."""
    x = _prepare(images, "images")
    resolutions = swd_resolutions(x.shape[2], x.shape[3])
    if not resolutions:
        raise ValueError(f"images must be at least {MIN_RESOLUTION} px, got {tuple(x.shape[2:])}")
    return _descriptors(x, len(resolutions), descriptors_per_image, seed)


def swd_from_descriptors(all_a: list[Tensor], all_b: list[Tensor], seed: int = 0, n_dirs: int = 128,
                         n_repeats: int = 4, normalization: str = "separate",
                         resolutions: list[int] | None = None) -> dict[str, float]:
    """SWD (× 1e3) of two sets given by their per-level descriptors (see ``swd_descriptors``)."""
    if normalization not in ("separate", "reference"):
        raise ValueError(f"normalization must be 'separate' or 'reference', got {normalization!r}")
    resolutions = resolutions or list(range(len(all_a)))
    result: dict[str, float] = {}
    for level, res in enumerate(resolutions):
        desc_a, desc_b = all_a[level], all_b[level]
        mean_a, std_a = _channel_stats(desc_a)
        mean_b, std_b = (mean_a, std_a) if normalization == "reference" else _channel_stats(desc_b)
        desc_a = ((desc_a - mean_a) / std_a).flatten(1)
        desc_b = ((desc_b - mean_b) / std_b).flatten(1)
        dist = _sliced_wasserstein(desc_a, desc_b, n_dirs, n_repeats, _generator(seed, level, 1))
        result[f"swd_{res}"] = dist * 1e3
    result["swd_avg"] = float(np.mean(list(result.values())))
    return result


@torch.no_grad()
def sliced_wasserstein(a: Tensor, b: Tensor, seed: int = 0, descriptors_per_image: int = 128,
                       n_dirs: int = 128, n_repeats: int = 4,
                       normalization: str = "separate") -> dict[str, float]:
    """Multi-scale SWD between two image sets in [-1, 1], scaled by 1e3 as in ProGAN.

    Returns ``{"swd_<res>": ..., "swd_avg": ...}`` with one entry per pyramid level from the full
    resolution down to 16 px. Results are deterministic for a given ``seed``, and identical sets
    give exactly 0 because both sets sample neighbourhoods at the same positions.
    """
    a, b = _prepare(a, "a"), _prepare(b, "b")
    if a.shape[2:] != b.shape[2:]:
        raise ValueError(f"image sizes differ: {tuple(a.shape[2:])} vs {tuple(b.shape[2:])}")
    return swd_from_descriptors(swd_descriptors(a, seed, descriptors_per_image),
                                swd_descriptors(b, seed, descriptors_per_image), seed, n_dirs, n_repeats,
                                normalization, swd_resolutions(a.shape[2], a.shape[3]))
