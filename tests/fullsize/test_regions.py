import numpy as np
import pytest

from artworkflow.errors import ConfigError
from artworkflow.fullsize.regions import fill_strokes, line_regions, segment

from .conftest import box, line_art


def test_two_closed_boxes_are_two_regions_beside_the_background(two_boxes):
    seg = segment(two_boxes, gap=2, shape_width=8)
    labels = seg.labels
    left, right, outside = labels[30, 20], labels[30, 60], labels[0, 0]
    assert len({left, right, outside}) == 3 and 0 not in (left, right, outside)
    assert (labels[11:53, 11:39] == left).all() and (labels[11:53, 42:69] == right).all()
    assert seg.border[outside] and not seg.border[left] and not seg.border[right]
    assert (labels[two_boxes[0].numpy() < 0] == 0).all()  # strokes belong to no region yet
    assert not seg.shape.any()


@pytest.mark.parametrize("opening, joined", [(4, False), (6, False), (8, True)])
def test_gaps_up_to_the_stated_width_are_closed(opening, joined):
    def draw(img):
        box(img, 8, 8, 55, 55, 3)
        img[8:11, 30:30 + opening] = 1  # a gap in the top stroke
    labels = segment(line_art(64, 64, draw), gap=6, shape_width=12).labels
    assert (labels[30, 30] == labels[1, 1]) == joined


def test_a_wide_ink_shape_is_a_region_and_a_stroke_is_not():
    def draw(img):
        img[20:44, 20:44] = -1  # 24 px square of solid ink
        img[5:60, 52:55] = -1  # 3 px stroke
    seg = segment(line_art(64, 64, draw), gap=2, shape_width=8)
    square = seg.labels[32, 32]
    assert square > 0 and seg.shape[square]
    assert (seg.labels[22:42, 22:42] == square).all()  # all but the corners, which no disc reaches
    assert (seg.labels[5:60, 52:55] == 0).all()
    assert (line_regions(line_art(64, 64, draw), gap=2, shape_width=8)[20:44, 20:44] == square).all()


def test_line_regions_give_strokes_to_the_inner_region(two_boxes):
    labels = line_regions(two_boxes, gap=2, shape_width=8)
    assert labels.dtype == np.int32 and labels.shape == (64, 80) and labels.min() >= 1
    outside, left = labels[0, 0], labels[30, 20]
    assert (labels[8:56, 8:11] == left).all()  # the outer stroke of the left box goes inwards
    assert labels[30, 39] == left and labels[30, 41] == labels[30, 60]  # the shared stroke is split
    assert (labels[:7] == outside).all()


def test_strokes_far_from_every_allowed_region_take_the_nearest_one(two_boxes):
    seg = segment(two_boxes, gap=2, shape_width=8)
    filled = fill_strokes(seg, np.zeros(seg.count + 1, bool))
    assert filled.min() >= 1


def test_bad_options_are_refused(two_boxes):
    with pytest.raises(ConfigError, match="gap"):
        segment(two_boxes, gap=-1)
    with pytest.raises(ConfigError, match="first stage"):
        segment(two_boxes[0])
