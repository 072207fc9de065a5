"""A value outside a control's range, sent through the API or to an event directly, is refused with
one line that names the control (its label in the page) and what it accepts."""
from __future__ import annotations

import math

import gradio as gr
import pytest
import torch

from artworkflow.app import handlers as H
from artworkflow.app import state as S
from artworkflow.errors import ConfigError


@pytest.fixture(scope="module")
def ctx(make_pipeline, tmp_path_factory) -> H.AppContext:
    return H.AppContext.create(make_pipeline(3), tmp_path_factory.mktemp("app"), perceptual=None)


@pytest.fixture(scope="module")
def sketch(tmp_path_factory) -> str:
    from artworkflow.data.images import save_image
    x = torch.ones(1, 64, 64)
    x[:, 16:48, 16:48] = -1
    return str(save_image(x, tmp_path_factory.mktemp("sketch") / "sketch.png"))


@pytest.fixture(scope="module")
def created(ctx, sketch) -> S.Session:
    session, *_ = H.create_start(ctx, None, {"composite": sketch}, 2, 0)
    return session


@pytest.fixture(scope="module")
def edited(ctx, sketch) -> S.Session:
    session, *_ = H.edit_decompose(ctx, None, sketch, "none", 0, "stage1")
    return session


def refused(call, message: str) -> None:
    with pytest.raises(gr.Error) as e:
        call()
    assert e.value.message == message


@pytest.mark.parametrize("k", [0, 9, 2.5, "two", True, None, math.nan])
def test_variations_per_stage(ctx, sketch, created, k):
    want = f"variations per stage must be a whole number between 1 and {S.MAX_VARIATIONS}, got {k!r}"
    refused(lambda: H.create_start(ctx, None, {"composite": sketch}, k, 0), want)
    refused(lambda: H.create_reroll(ctx, created, k, 0), want)


@pytest.mark.parametrize("seed", [-1, 2**53, 1e300, math.inf, "0x10"])
def test_seed(ctx, sketch, created, edited, seed):
    want = f"seed must be a whole number between 0 and {S.MAX_SEED}, got {seed!r}"
    refused(lambda: H.create_start(ctx, None, {"composite": sketch}, 2, seed), want)
    refused(lambda: H.create_back(ctx, created, 2, seed), want)
    refused(lambda: H.edit_resample(ctx, edited, "stage1", seed), want)


def test_a_roll_past_the_largest_seed_names_the_seed(ctx, created):
    refused(lambda: H.create_reroll(ctx, created, 2, S.MAX_SEED - 1),
            f"seed must be a whole number between 0 and {S.MAX_SEED}, got {S.MAX_SEED + 1}")


@pytest.mark.parametrize("index", [2, -1, 0.5, "1", True])
def test_chosen_variation(ctx, created, index):
    refused(lambda: H.create_pick(ctx, created, index, 2, 0), f"chosen variation must be one of 0, 1, got {index!r}")


def test_a_whole_float_picks_like_an_int(ctx, sketch):
    session, *_ = H.create_start(ctx, None, {"composite": sketch}, 2, 3)
    session, *_ = H.create_pick(ctx, session, 1.0, 2, 3)
    assert session.create.steps[1].seed == 4


@pytest.mark.parametrize("mode", ["z", "", 1, None])
def test_reconstruction(ctx, sketch, mode):
    refused(lambda: H.edit_decompose(ctx, None, sketch, mode, 1, "stage1"),
            f"reconstruction must be one of 'none', 'adain', 'adain+learned', 'auto', got {mode!r}")


@pytest.mark.parametrize("steps", [-1, S.MAX_STEPS + 1, 1.5, "many"])
def test_optimisation_steps(ctx, sketch, steps):
    refused(lambda: H.edit_decompose(ctx, None, sketch, "adain", steps, "stage1"),
            f"optimisation steps per stage must be a whole number between 0 and {S.MAX_STEPS}, got {steps!r}")


@pytest.mark.parametrize("stage", ["stage9", 1, None])
def test_stage_to_change(ctx, edited, sketch, stage):
    want = f"stage to change must be one of 'stage0', 'stage1', 'stage2', got {stage!r}"
    refused(lambda: H.edit_resample(ctx, edited, stage, 0), want)
    refused(lambda: H.edit_redraw(ctx, edited, stage, {"composite": sketch}), want)
    refused(lambda: H.edit_undo(ctx, edited, stage), want)


def test_checks_accept_what_the_page_sends():
    assert S.whole_number(3.0, "x", 1, 8) == 3 and S.whole_number(" 7 ", "x", 1, 8) == 7
    assert S.one_of("adain", "x", list(S.EDIT_MODES)) == "adain"
    with pytest.raises(ConfigError, match="x must be a whole number of at least 1, got 0"):
        S.whole_number(0, "x", 1)
