import numpy as np
import pytest
import torch
import torch.nn.functional as F

from artworkflow.errors import ConfigError
from artworkflow.fullsize.smooth import edge_aware_upsample


def step(height: int, width: int, at: int, left: float, right: float) -> torch.Tensor:
    x = torch.full((1, height, width), right)
    x[..., :at] = left
    return x


def test_the_upsampled_change_keeps_to_the_guide_s_line():
    """The model's picture changes across a line of the guide; its low resolution blurs that change over
    several pixels, plain interpolation keeps the blur, the edge-aware one puts it on the line."""
    guide = step(64, 64, 27, 1.0, -1.0)  # the line is between columns 26 and 27
    target = step(64, 64, 27, 0.6, -0.2)
    low = F.interpolate(target[None], size=(16, 16), mode="bilinear", antialias=True, align_corners=False)[0]
    plain = F.interpolate(low[None], size=(64, 64), mode="bilinear", align_corners=False)[0]
    ours = edge_aware_upsample(low, guide)
    assert ours.shape == (1, 64, 64)
    assert (plain - target).abs().max() > 0.2  # the blur crosses the line
    assert (ours - target).abs().max() < 0.02


def test_labels_keep_regions_of_one_colour_apart():
    """The guide is one colour on both sides of a boundary that only the labels know about."""
    guide = torch.zeros(3, 48, 48)
    labels = np.ones((48, 48), np.int32)
    labels[:, 30:] = 2
    target = step(48, 48, 30, 0.5, -0.5)
    low = F.interpolate(target[None], size=(12, 12), mode="bilinear", antialias=True, align_corners=False)[0]
    without = edge_aware_upsample(low, guide)
    with_labels = edge_aware_upsample(low, guide, labels)
    assert (without - target).abs().max() > 0.2
    assert (with_labels - target).abs().max() < 0.05


def test_a_flat_guide_gives_plain_smooth_interpolation():
    ramp = torch.linspace(-0.5, 0.5, 8)
    low = torch.stack([ramp[:, None] + 0 * ramp, ramp[None, :] + 0 * ramp[:, None], -ramp[:, None] * ramp])
    out = edge_aware_upsample(low, torch.zeros(1, 32, 40))
    assert out.shape == (3, 32, 40)
    back = F.interpolate(out[None], size=(8, 8), mode="area")[0]
    assert (back - low)[:, 1:-1, 1:-1].abs().max() < 0.05


def test_shapes_are_checked():
    with pytest.raises(ConfigError, match="edge_aware_upsample"):
        edge_aware_upsample(torch.zeros(1, 3, 8, 8), torch.zeros(1, 16, 16))
    with pytest.raises(ConfigError, match="labels"):
        edge_aware_upsample(torch.zeros(3, 8, 8), torch.zeros(1, 16, 16), np.zeros((8, 8), np.int32))
