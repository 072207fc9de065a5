"""Fréchet distance numerics, feature batching, and the metrics package exports."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

import artworkflow.metrics as metrics
from artworkflow.metrics.fid import (
    feature_statistics,
    fid,
    fid_from_features,
    frechet_distance,
    inception_features,
)


def _reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


class _ChannelStats(nn.Module):
    """Stand-in feature extractor that records the batch sizes it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


def test_feature_set_against_itself_is_zero():
    f = np.random.default_rng(0).normal(size=(400, 32))
    assert abs(fid_from_features(f, f)) < 1e-3


def test_matches_plain_scipy_computation():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 24))
    b = rng.normal(size=(250, 24)) @ rng.normal(size=(24, 24)) * 0.3 + 0.2
    assert fid_from_features(a, b) == pytest.approx(_reference_fid(a, b), rel=1e-6)


def test_mean_shift_adds_squared_distance():
    f = np.random.default_rng(2).normal(size=(500, 16))
    assert fid_from_features(f, f + 0.5) == pytest.approx(16 * 0.25, rel=1e-4)
    assert fid_from_features(f, f * 1.5) > 0.5


def test_fewer_samples_than_dimensions_stays_finite():
    rng = np.random.default_rng(3)
    value = fid_from_features(rng.normal(size=(10, 50)), rng.normal(size=(12, 50)))
    assert np.isfinite(value) and value > 0


def test_large_imaginary_component_raises():
    mu = np.zeros(2)
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(mu, np.eye(2), mu, np.diag([-1.0, 1.0]))


def test_feature_statistics_validates_input():
    mu, sigma = feature_statistics(np.arange(12, dtype=np.float32).reshape(4, 3))
    assert mu.dtype == np.float64 and sigma.shape == (3, 3)
    np.testing.assert_allclose(mu, [4.5, 5.5, 6.5])
    with pytest.raises(ValueError):
        feature_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError):
        feature_statistics(np.zeros(5))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_inception_features_batches_any_input_form():
    torch.manual_seed(0)
    images = torch.rand(10, 3, 8, 8) * 2 - 1
    model = _ChannelStats()
    whole = inception_features(model, images, batch_size=4)
    assert whole.shape == (10, 9) and whole.dtype == np.float64
    assert model.batch_sizes == [4, 4, 2]

    model.batch_sizes.clear()
    singles = inception_features(model, list(images), batch_size=4)
    np.testing.assert_allclose(singles, whole, rtol=1e-6)
    assert model.batch_sizes == [4, 4, 2]

    model.batch_sizes.clear()
    mixed = inception_features(model, [images[:3], images[3], images[4:10]], batch_size=4)
    np.testing.assert_allclose(mixed, whole, rtol=1e-6)
    assert max(model.batch_sizes) <= 4 and sum(model.batch_sizes) == 10

    with pytest.raises(ValueError):
        inception_features(model, [], batch_size=4)


def test_fid_end_to_end_with_stand_in_model():
    torch.manual_seed(1)
    a = torch.rand(40, 3, 8, 8) * 2 - 1
    b = (torch.rand(40, 3, 8, 8) * 2 - 1) * 0.5
    model = _ChannelStats()
    expected = fid_from_features(inception_features(model, a), inception_features(model, b))
    assert fid(a, b, model) == pytest.approx(expected, rel=1e-9)
    assert fid(a, b, model) > 0
    assert abs(fid(a, a, model)) < 1e-3


def test_package_exports():
    assert metrics.fid is fid
    assert callable(metrics.sliced_wasserstein) and callable(metrics.frechet_distance)
    a = torch.zeros(2, 3, 4, 4)
    b = torch.full((2, 3, 4, 4), 0.5)
    assert metrics.l1_distance(a, b) == pytest.approx(0.5)
    assert metrics.l1_distance(a, a) == 0.0
    with pytest.raises(ValueError):
        metrics.l1_distance(a, b[:1])
