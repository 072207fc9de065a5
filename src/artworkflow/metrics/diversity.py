"""Diversity of a stage's variations, measured against the spread of real items.

For K variations of one stage drawn from the same input (earlier stages fixed), the mean pairwise
distance between them, per stage, divided by the mean pairwise distance between different real items
of that stage. 0 means the stage ignores its latent; 1 means its variations differ as much as
different artworks do. Where the truth is known (the toy dataset's true alternatives: K renders of
a stage that differ only in that stage's own random choices), ``coverage`` is the model's spread over
the true spread from the same real input."""
from __future__ import annotations

from itertools import combinations
from typing import Callable

import torch
from torch import Tensor

from ..workflow import Workflow

Distance = Callable[[Tensor, Tensor], Tensor]
"""Per-sample distance of two equally shaped batches: (N, C, H, W) × 2 → (N,)."""


def pixel_l1(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().flatten(1).mean(1)


def mean_pairwise(images: Tensor, distance: Distance = pixel_l1) -> float:
    """Mean distance over all unordered pairs of a set (K, C, H, W), K >= 2."""
    if images.shape[0] < 2:
        raise ValueError("a spread needs at least 2 images")
    i, j = zip(*combinations(range(images.shape[0]), 2))
    return float(distance(images[list(i)], images[list(j)]).mean())


def real_spread(images: Tensor, distance: Distance = pixel_l1, max_items: int = 64) -> float:
    """Mean pairwise distance between different real items (the first ``max_items``)."""
    return mean_pairwise(images[:max_items], distance)


@torch.no_grad()
def stage_variations(wf: Workflow, x1: Tensor, stage: int, k: int, seed: int) -> Tensor:
    """(N, K, C, H, W): for every input, K images of generation stage ``stage``'s output whose earlier
    stages are fixed (one seeded latent per earlier stage) and whose own latent differs."""
    g = torch.Generator().manual_seed(seed)
    n, nz = x1.shape[0], wf.model_config.nz
    x = x1
    for i in range(stage):
        x = wf.generators[i](x, torch.randn(n, nz, generator=g).to(x1.device))
    z = torch.randn(k, n, nz, generator=g).to(x1.device)
    g_i = wf.generators[stage]
    content = g_i.encode_content(x)
    return torch.stack([g_i.decode(content, g_i.adain_vector(z[v])) for v in range(k)], dim=1)


def variation_spread(variations: Tensor, distance: Distance = pixel_l1) -> float:
    """Mean over inputs of the mean pairwise distance of their K variations (N, K, C, H, W)."""
    return sum(mean_pairwise(v, distance) for v in variations) / variations.shape[0]


@torch.no_grad()
def stage_diversity(wf: Workflow, real: list[Tensor], k: int = 5, seed: int = 0,
                    distances: dict[str, Distance] | None = None) -> dict[str, dict[str, float]]:
    """Per generated stage (by name): the variations' spread, the real items' spread and their ratio,
    for each distance (``l1`` always; e.g. ``vgg`` when given). ``real`` holds every stage of the
    test items; variations start from their first stage."""
    distances = distances or {"l1": pixel_l1}
    out: dict[str, dict[str, float]] = {}
    for i in range(len(wf.generators)):
        var = stage_variations(wf, real[0], i, k, seed + i)
        row: dict[str, float] = {}
        for name, d in distances.items():
            row[f"{name}_variations"] = variation_spread(var, d)
            row[f"{name}_real"] = real_spread(real[i + 1], d)
            row[f"{name}_relative"] = row[f"{name}_variations"] / max(row[f"{name}_real"], 1e-12)
        out[wf.spec.names[i + 1]] = row
    return out


@torch.no_grad()
def true_alternative_coverage(wf: Workflow, inputs: Tensor, alternatives: Tensor, stage: int,
                              seed: int = 0, distance: Distance = pixel_l1) -> dict[str, float]:
    """How much of the true spread of image stage ``stage + 1`` the model's variations cover, from the
    same real inputs of stage ``stage`` (N, C, H, W) and the true alternatives (N, K, C, H, W)."""
    k = alternatives.shape[1]
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(k, inputs.shape[0], wf.model_config.nz, generator=g).to(inputs.device)
    g_i = wf.generators[stage]
    content = g_i.encode_content(inputs)
    model = torch.stack([g_i.decode(content, g_i.adain_vector(z[v])) for v in range(k)], dim=1)
    true = variation_spread(alternatives, distance)
    spread = variation_spread(model, distance)
    return {"true_spread": true, "model_spread": spread, "coverage": spread / max(true, 1e-12)}
