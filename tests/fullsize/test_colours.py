import numpy as np
import torch
import torch.nn.functional as F

from artworkflow.fullsize.colours import ModelStage, region_colours


def test_colours_are_read_as_the_bilinear_interpolation_to_full_size():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    stage = ModelStage(image, (30, 50))
    full = F.interpolate(image[None], size=(30, 50), mode="bilinear", align_corners=False)[0].numpy()
    ys, xs = np.array([0, 7, 29, 15]), np.array([0, 49, 3, 26])
    assert np.allclose(stage.at(ys, xs), full[:, ys, xs], atol=1e-5)
    assert np.allclose(stage.grid(), full, atol=1e-5)  # at this size the grid is every pixel


def test_a_region_s_colour_is_read_inside_it_away_from_the_model_s_blur():
    """The model paints a blue square (full-size pixels 16..47) on red; the region is a larger square
    (12..51), whose outer band the interpolation mixes with red: most of its pixels are not blue."""
    blue = torch.tensor([-0.6, -0.4, 0.8])
    image = torch.tensor([0.8, -0.6, -0.6])[:, None, None].repeat(1, 8, 8)
    image[:, 2:6, 2:6] = blue[:, None, None]
    labels = np.ones((64, 64), np.int32)
    labels[12:52, 12:52] = 2
    stage = ModelStage(image, (64, 64))
    colours = region_colours(stage, labels, 2)
    assert np.allclose(colours[2], blue, atol=1e-4)
    ys, xs = np.nonzero(labels == 2)
    assert not np.allclose(np.median(stage.at(ys, xs), axis=1), blue, atol=0.05)
    assert np.allclose(colours[0], 1.0)


def test_a_region_thinner_than_the_interior_margin_is_read_whole():
    image = torch.zeros(3, 8, 8)
    labels = np.ones((64, 64), np.int32)
    labels[:, 30:32] = 2  # 2 px wide, less than a model pixel (8 px)
    colours = region_colours(ModelStage(image, (64, 64)), labels, 2)
    assert np.isfinite(colours).all() and np.allclose(colours[2], 0.0)
