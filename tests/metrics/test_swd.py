"""Multi-scale sliced Wasserstein distance: ProGAN pyramid, determinism and sensitivity."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F

from artworkflow.metrics.swd import _laplacian_pyramid, sliced_wasserstein

_GAUSS = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256.0


def _progan_pyramid(x: np.ndarray, levels: int) -> list[np.ndarray]:
    """The reference Laplacian pyramid, written with scipy.ndimage in mirror mode (as cv2.pyrDown/Up)."""
    def down(m):
        return scipy.ndimage.convolve(m, _GAUSS[None, None], mode="mirror")[:, :, ::2, ::2]

    def up(m):
        r = np.zeros((m.shape[0], m.shape[1], m.shape[2] * 2, m.shape[3] * 2), m.dtype)
        r[:, :, ::2, ::2] = m
        return scipy.ndimage.convolve(r, _GAUSS[None, None] * 4.0, mode="mirror")

    pyramid = [x.copy()]
    for _ in range(1, levels):
        pyramid.append(down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - up(pyramid[-1])
    return pyramid


def _smooth_images(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Images with structure at several scales, in [-0.6, 0.6] so small shifts do not clip."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(n, 3, size, size)
    for s in (4, 8, 16, 32):
        out += F.interpolate(torch.randn(n, 3, s, s, generator=g), size=(size, size), mode="bilinear",
                             align_corners=False)
    return out / out.abs().amax() * 0.6


def test_pyramid_matches_progan_reference():
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    ours = _laplacian_pyramid(torch.from_numpy(x), 3)
    ref = _progan_pyramid(x, 3)
    assert [tuple(level.shape[2:]) for level in ours] == [(64, 64), (32, 32), (16, 16)]
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-5)


def test_identical_sets_give_zero_and_expected_keys():
    a = _smooth_images(12)
    result = sliced_wasserstein(a, a.clone())
    assert list(result) == ["swd_64", "swd_32", "swd_16", "swd_avg"]
    assert all(v == 0.0 for v in result.values())
    assert list(sliced_wasserstein(a[:, :, :32, :32], a[:, :, :32, :32])) == ["swd_32", "swd_16", "swd_avg"]


def test_deterministic_for_a_seed():
    a, b = _smooth_images(8, seed=1), _smooth_images(8, seed=2)
    r1, r2 = sliced_wasserstein(a, b, seed=5), sliced_wasserstein(a, b, seed=5)
    assert r1 == r2
    assert sliced_wasserstein(a, b, seed=6) != r1
    assert r1["swd_avg"] == pytest.approx(np.mean([r1["swd_64"], r1["swd_32"], r1["swd_16"]]))


def test_grows_monotonically_with_noise():
    a = _smooth_images(24, seed=3)
    g = torch.Generator().manual_seed(4)
    noise = torch.randn(a.shape, generator=g)
    values = [sliced_wasserstein(a, a + s * noise)["swd_avg"] for s in (0.02, 0.05, 0.1, 0.2)]
    assert values[0] > 0
    assert all(x < y for x, y in zip(values, values[1:])), values


def test_separate_normalisation_ignores_affine_colour_change():
    a = _smooth_images(16, seed=5)
    scale = torch.tensor([0.8, 1.0, 0.6]).view(1, 3, 1, 1)
    offset = torch.tensor([0.2, -0.1, 0.3]).view(1, 3, 1, 1)
    result = sliced_wasserstein(a, a * scale + offset)
    assert result["swd_avg"] < 1e-2


def test_reference_normalisation_grows_with_colour_shift():
    a = _smooth_images(16, seed=6)
    direction = torch.tensor([1.0, -0.5, 0.25]).view(1, 3, 1, 1)
    values = [sliced_wasserstein(a, a + s * direction, normalization="reference")
              for s in (0.0, 0.05, 0.1, 0.2, 0.4)]
    avgs = [v["swd_avg"] for v in values]
    assert avgs[0] == 0.0
    assert all(x < y for x, y in zip(avgs, avgs[1:])), avgs
    assert values[-1]["swd_16"] > values[-1]["swd_64"]


def test_grayscale_equals_repeated_rgb_and_unequal_set_sizes():
    a = _smooth_images(10, seed=7)[:, :1]
    b = _smooth_images(14, seed=8)[:, :1]
    gray = sliced_wasserstein(a, b)
    rgb = sliced_wasserstein(a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1))
    assert gray == pytest.approx(rgb)
    assert all(np.isfinite(v) and v > 0 for v in gray.values())


def test_rejects_bad_inputs():
    a = torch.zeros(2, 3, 32, 32)
    with pytest.raises(ValueError):
        sliced_wasserstein(a, torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError):
        sliced_wasserstein(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError):
        sliced_wasserstein(a, a, normalization="global")


def test_constant_images_do_not_produce_nan():
    a = torch.full((4, 3, 32, 32), 0.25)
    b = _smooth_images(4, size=32, seed=9)
    result = sliced_wasserstein(a, b)
    assert all(np.isfinite(v) for v in result.values())
