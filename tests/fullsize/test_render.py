import numpy as np
import pytest
import torch

from artworkflow.errors import ConfigError
from artworkflow.fullsize.render import render_stages

from .conftest import line_art, paint

RED, BLUE, GREEN = (0.8, -0.6, -0.6), (-0.6, -0.4, 0.8), (-0.8, 0.6, -0.8)
LEFT, RIGHT = (slice(8, 56), slice(8, 40)), (slice(8, 56), slice(40, 72))
KINDS = ["line", "region", "smooth"]
OPTIONS = {"gap": 2, "shape_width": 8}


def colours_in(image: torch.Tensor, ys: slice, xs: slice) -> set[tuple[float, ...]]:
    return {tuple(c) for c in image[:, ys, xs].reshape(3, -1).T.tolist()}


def render(first, flat, shaded=None, **options):
    stages = [torch.zeros(1, 1, 32, 32), flat, flat if shaded is None else shaded]
    return render_stages(first, stages, KINDS, **{**OPTIONS, **options})


def test_entry_zero_is_the_first_stage_itself(two_boxes):
    out = render(two_boxes, paint(64, 80, [(LEFT, RED), (RIGHT, BLUE)]))
    assert out[0] is two_boxes
    assert [tuple(x.shape) for x in out] == [(1, 64, 80), (3, 64, 80), (3, 64, 80)]


def test_each_closed_region_gets_exactly_one_colour(two_boxes):
    noise = 0.1 * torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    flat = paint(64, 80, [(LEFT, RED), (RIGHT, BLUE)]) + noise
    out = render(two_boxes, flat)[1]
    left, right = colours_in(out, slice(12, 52), slice(12, 38)), colours_in(out, slice(12, 52), slice(43, 68))
    assert len(left) == 1 and len(right) == 1
    assert np.allclose(next(iter(left)), RED, atol=0.15) and np.allclose(next(iter(right)), BLUE, atol=0.15)


def test_no_colour_crosses_a_closed_line(two_boxes):
    """The model paints red 8 px into the right box; the right box stays one colour, blue."""
    spill = (slice(8, 56), slice(40, 48))
    out = render(two_boxes, paint(64, 80, [(LEFT, RED), (RIGHT, BLUE), (spill, RED)]))[1]
    right = colours_in(out, slice(11, 53), slice(42, 69))
    assert len(right) == 1 and np.allclose(next(iter(right)), BLUE, atol=0.2)


def test_the_background_stays_white_where_the_model_paints_it_near_white(two_boxes):
    near_white = (0.9, 0.93, 0.88)
    out = render(two_boxes, paint(64, 80, [(LEFT, RED), (RIGHT, BLUE)], background=near_white))
    assert colours_in(out[1], slice(0, 6), slice(0, 80)) == {(1.0, 1.0, 1.0)}
    dark = render(two_boxes, paint(64, 80, [(LEFT, RED), (RIGHT, BLUE)], background=(-0.5, -0.5, -0.5)))[1]
    assert (dark[:, :6] < 0).all()  # a background the model paints dark is not whitened


def test_a_thick_ink_shape_keeps_the_model_s_colour():
    def draw(img):
        img[16:48, 16:48] = -1  # a solid 32 px square of ink, which the colour stages paint
    square = (slice(16, 48), slice(16, 48))
    out = render(line_art(64, 64, draw), paint(64, 64, [(square, GREEN)]))[1]
    inside = colours_in(out, slice(22, 42), slice(22, 42))
    assert len(inside) == 1 and np.allclose(next(iter(inside)), GREEN, atol=0.15)
    assert colours_in(out, slice(0, 10), slice(0, 64)) == {(1.0, 1.0, 1.0)}


def test_a_non_square_picture_keeps_its_aspect_ratio():
    def draw(img):
        img[:, 58:62] = -1  # a vertical stroke at 60 of 120 px: the left half and the right half
    first = line_art(40, 120, draw)
    out = render(first, paint(40, 120, [((slice(0, 40), slice(0, 60)), RED), ((slice(0, 40), slice(60, 120)), BLUE)]))
    assert [tuple(x.shape[-2:]) for x in out] == [(40, 120)] * 3
    assert np.allclose(out[1][:, 20, 50], RED, atol=0.15) and np.allclose(out[1][:, 20, 70], BLUE, atol=0.15)


def test_a_smooth_stage_adds_the_model_s_change_without_crossing_a_line(two_boxes):
    """The shaded model stage (16 px: its blur spans 5 full-size pixels) darkens the left box only; at
    full size the change stops at the line."""
    flat = paint(64, 80, [(LEFT, RED), (RIGHT, BLUE)], resolution=16)
    shaded = paint(64, 80, [(LEFT, tuple(c - 0.3 for c in RED)), (RIGHT, BLUE)], resolution=16)
    out = render(two_boxes, flat, shaded)
    change = out[2] - out[1]
    assert (change[:, 14:50, 14:39] + 0.3).abs().max() < 0.05
    assert change[:, 14:50, 42:66].abs().max() < 0.05


def test_bad_input_is_refused(two_boxes):
    flat = paint(64, 80, [(LEFT, RED)])
    with pytest.raises(ConfigError, match="kind"):
        render_stages(two_boxes, [flat, flat], KINDS)
    with pytest.raises(ConfigError, match="kinds"):
        render_stages(two_boxes, [flat, flat], ["line", "paint"])
    with pytest.raises(ConfigError, match="first stage"):
        render_stages(two_boxes[0], [flat, flat], ["line", "region"])
