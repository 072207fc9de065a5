"""Edge-aware upsampling: a low-resolution image brought to a guide's size so that its edges follow
the guide's edges instead of the blur of interpolation.

A guided filter (He et al., TPAMI 2013) fits, in every window of the low-resolution image, the image
as an affine function of the guide; the fitted coefficients vary slowly, so they are interpolated to
full size and applied to the full-size guide (the fast guided filter's upsampling). Where the guide
has a line or a change of colour, the result may change as sharply; where the guide is flat, it is
as smooth as the low-resolution image. Region labels, when given, join the guide as one more channel
(a distinct value per region), so that neighbouring regions of one colour are kept apart too."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError

RADIUS = 1
"""Window radius of the fit, in low-resolution pixels."""
EPS = 1e-3
"""Regularisation of the fit (in squared [-1, 1] units): larger keeps more of the plain interpolation."""
_GOLDEN = 0.6180339887498949


def _box(x: Tensor, radius: int) -> Tensor:
    """Mean over a (2·radius + 1)² window, over the pixels inside the image."""
    k = 2 * radius + 1
    return F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=False)


def label_channel(labels: np.ndarray) -> Tensor:
    """(1, H, W) in [-1, 1] with a distinct, scattered value per label, for use as a guide channel."""
    values = (np.arange(int(labels.max()) + 1) * _GOLDEN) % 1.0
    return torch.from_numpy((values[labels] * 2 - 1).astype(np.float32))[None]


def _fit(low: Tensor, guide_low: Tensor, radius: int, eps: float) -> tuple[Tensor, Tensor]:
    """Per low-resolution pixel, A (Cg, C) and b (C) with low ≈ Aᵀ·guide + b over each window, averaged
    over the windows that cover the pixel."""
    cg, c = guide_low.shape[0], low.shape[0]
    i, p = guide_low[None], low[None]
    mean_i, mean_p = _box(i, radius)[0], _box(p, radius)[0]
    prod = (i[:, :, None] * i[:, None]).flatten(1, 2)
    cov_ii = _box(prod, radius)[0].view(cg, cg, *i.shape[-2:]) - mean_i[:, None] * mean_i[None]
    cross = (i[:, :, None] * p[:, None]).flatten(1, 2)
    cov_ip = _box(cross, radius)[0].view(cg, c, *i.shape[-2:]) - mean_i[:, None] * mean_p[None]
    system = cov_ii.permute(2, 3, 0, 1) + eps * torch.eye(cg, dtype=low.dtype)
    a = torch.linalg.solve(system, cov_ip.permute(2, 3, 0, 1))  # (h, w, Cg, C)
    a = a.permute(2, 3, 0, 1)
    b = mean_p - (a * mean_i[:, None]).sum(0)
    mean_a = _box(a.flatten(0, 1)[None], radius)[0].view_as(a)
    return mean_a, _box(b[None], radius)[0]


def edge_aware_upsample(low: Tensor, guide: Tensor, labels: np.ndarray | None = None, radius: int | None = None,
                        eps: float | None = None) -> Tensor:
    """``low`` (C, h, w) brought to the size of ``guide`` (Cg, H, W), both in [-1, 1], its edges
    following the guide's (and, given ``labels`` (H, W), the boundaries between regions); ``radius``
    and ``eps`` default to ``RADIUS`` and ``EPS``."""
    if low.dim() != 3 or guide.dim() != 3:
        raise ConfigError(f"edge_aware_upsample takes (C, h, w) and (Cg, H, W) images, got shapes "
                          f"{tuple(low.shape)} and {tuple(guide.shape)}")
    guide = guide.detach().float().cpu()
    if labels is not None:
        if labels.shape != tuple(guide.shape[-2:]):
            raise ConfigError(f"labels are {labels.shape}, the guide {tuple(guide.shape[-2:])}; give one label "
                              "per guide pixel")
        guide = torch.cat([guide, label_channel(labels)])
    low = low.detach().float().cpu()
    size = tuple(guide.shape[-2:])
    guide_low = F.interpolate(guide[None], size=tuple(low.shape[-2:]), mode="bilinear", antialias=True,
                              align_corners=False)[0]
    a, b = _fit(low, guide_low, RADIUS if radius is None else radius, EPS if eps is None else eps)
    cg, c = a.shape[:2]
    coeffs = F.interpolate(torch.cat([a.flatten(0, 1), b])[None], size=size, mode="bilinear",
                           align_corners=False)[0]
    a_full, b_full = coeffs[:cg * c].view(cg, c, *size), coeffs[cg * c:]
    return (a_full * guide[:, None]).sum(0) + b_full
