"""Fréchet Inception Distance (Heusel et al. 2017) on FID Inception-v3 pool3 features.

Statistics are computed in float64 with scipy so the numbers match the reference TF/pytorch-fid
implementations; feature extraction is split out so reference features can be cached.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from scipy import linalg
from torch import Tensor, nn


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of an (N, D) feature matrix, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"expected an (N, D) feature matrix, got shape {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {features.shape[0]}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``d = |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))``. When the product is
    singular (fewer samples than dimensions), ``eps`` is added to both diagonals; tiny imaginary
    parts from numerical error in ``sqrtm`` are dropped, large ones raise ``ValueError``.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors have different shapes: {mu1.shape} vs {mu2.shape}")
    if sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0], mu1.shape[0]):
        raise ValueError(f"covariances {sigma1.shape}, {sigma2.shape} do not match means {mu1.shape}")

    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        max_imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm of the covariance product has a large imaginary component ({max_imag:.3g})")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _batches(images: Iterable[Tensor] | Tensor, batch_size: int) -> Iterator[Tensor]:
    """Yield (B, C, H, W) batches of at most ``batch_size`` from a tensor or an iterable of
    single images (C, H, W) and/or batches."""
    if isinstance(images, Tensor):
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if images.dim() != 4:
            raise ValueError(f"expected a (N, C, H, W) or (C, H, W) tensor, got {tuple(images.shape)}")
        images = [images]
    pending: list[Tensor] = []
    count = 0
    for item in images:
        if item.dim() == 3:
            item = item.unsqueeze(0)
        if item.dim() != 4:
            raise ValueError(f"expected images of shape (C, H, W) or (B, C, H, W), got {tuple(item.shape)}")
        for chunk in item.split(batch_size):
            pending.append(chunk)
            count += chunk.shape[0]
            if count >= batch_size:
                merged = torch.cat(pending)
                yield merged[:batch_size]
                rest = merged[batch_size:]
                pending, count = ([rest], rest.shape[0]) if rest.shape[0] else ([], 0)
    if count:
        yield torch.cat(pending)


def inception_features(model: nn.Module, images: Iterable[Tensor] | Tensor, batch_size: int = 32,
                       device: str | torch.device = "cpu") -> np.ndarray:
    """(N, 2048) float64 pool3 features of [-1, 1] images, run in batches on ``device``.

    ``model`` (an ``FIDInceptionV3``) is moved to ``device`` in place.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    model = model.to(device).eval()
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for batch in _batches(images, batch_size):
            feats = model(batch.to(device=device, dtype=torch.float32))
            out.append(feats.reshape(feats.shape[0], -1).double().cpu().numpy())
    if not out:
        raise ValueError("no images given")
    return np.concatenate(out, axis=0)


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two (N, D) feature sets."""
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


def fid(images_a: Iterable[Tensor] | Tensor, images_b: Iterable[Tensor] | Tensor, model: nn.Module,
        batch_size: int = 32, device: str | torch.device = "cpu") -> float:
    """FID between two sets of [-1, 1] images using ``model`` (see ``load_inception``)."""
    return fid_from_features(inception_features(model, images_a, batch_size, device),
                             inception_features(model, images_b, batch_size, device))
