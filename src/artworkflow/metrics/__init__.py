"""Evaluation metrics: L1 reconstruction error, FID and multi-scale sliced Wasserstein distance.

Imports are eager on purpose: the function ``fid`` shares its name with the submodule ``fid``,
and binding the function at package import time keeps ``artworkflow.metrics.fid`` the function
regardless of import order (use ``from artworkflow.metrics.fid import ...`` for the module).
"""
from __future__ import annotations

from torch import Tensor

from .fid import feature_statistics, fid, fid_from_features, frechet_distance, inception_features
from .swd import sliced_wasserstein

__all__ = [
    "feature_statistics",
    "fid",
    "fid_from_features",
    "frechet_distance",
    "inception_features",
    "l1_distance",
    "sliced_wasserstein",
]


def l1_distance(a: Tensor, b: Tensor) -> float:
    """Mean absolute difference between two image tensors in [-1, 1]."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return float((a.detach().double() - b.detach().double()).abs().mean())
