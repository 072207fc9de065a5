"""Borrowing a stage from another artwork in the app: the state without Gradio, then the events."""
from __future__ import annotations

import gradio as gr
import pytest
import torch

from artworkflow.app import handlers as H
from artworkflow.app import state as S
from artworkflow.data.images import save_image


def sketch(pipeline) -> torch.Tensor:
    x = torch.ones(pipeline.workflow.spec.channels[0], 64, 64)
    x[:, 16:48, 16:48] = 0
    return x


def reference(pipeline) -> torch.Tensor:
    """A finished artwork unlike the sketch's: colour blocks on white."""
    x = torch.ones(3, 64, 64)
    x[:, 8:40, 8:56] = torch.tensor([0.8, -0.6, -0.9]).view(3, 1, 1)
    x[:, 40:60, 20:44] = torch.tensor([-0.9, -0.2, 0.9]).view(3, 1, 1)
    return x


def test_create_offers_the_borrowed_stage_first_and_keeps_it_once_picked(pipeline):
    path = S.CreatePath(pipeline, sketch(pipeline))
    ref = reference(pipeline)
    cands = path.variations(3, seed=4, reference=ref)
    assert path.candidate_seeds == [None, 5, 6] and path.candidate_origins[:2] == [S.BORROWED, "seed 5"]
    z = pipeline.borrow_latent(1, ref)
    x1 = pipeline.prepare(sketch(pipeline))
    rest = pipeline.latents(1, 0)[1:]
    torch.testing.assert_close(cands[0], pipeline.generate(x1, [z, *rest])[1], rtol=0, atol=1e-5)
    torch.testing.assert_close(cands[1], pipeline.generate(x1, [pipeline.latents(1, 5)[0], *rest])[1],
                               rtol=0, atol=1e-5)
    step = path.pick(0)
    assert step.origin == S.BORROWED and torch.equal(step.latent, z)
    later = path.variations(2, seed=9)
    torch.testing.assert_close(later[0], pipeline.generate(x1, [z, *pipeline.latents(1, 9)[1:]])[2],
                               rtol=0, atol=1e-5)
    assert [s.origin for s in path.steps] == ["yours", S.BORROWED]


def test_edit_borrow_keeps_the_earlier_stages_and_undoes(pipeline):
    artwork = pipeline.sample(pipeline.prepare(sketch(pipeline)), seed=1)[-1][0]
    edit = S.EditState.from_artwork(pipeline, artwork, "none", steps=0)
    last = len(pipeline.names) - 1
    before = edit.stages
    after = edit.borrow(last, reference(pipeline))
    assert all(torch.equal(a, b) for a, b in zip(after[:last], before[:last]))
    assert not torch.equal(after[last], before[last])
    assert edit.history[-1] == f"borrow {pipeline.names[last]} from another artwork"
    assert edit.undo() and all(torch.equal(a, b) for a, b in zip(edit.stages, before))


@pytest.fixture(scope="module")
def ctx(make_pipeline, tmp_path_factory) -> H.AppContext:
    return H.AppContext.create(make_pipeline(3), tmp_path_factory.mktemp("app"), perceptual=None)


@pytest.fixture(scope="module")
def files(ctx, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("uploads")
    return {"sketch": str(save_image(sketch(ctx.pipeline), folder / "sketch.png")),
            "reference": str(save_image(reference(ctx.pipeline), folder / "reference.png"))}


def test_the_borrow_events_of_both_tabs(ctx, files):
    session, *_ = H.create_start(ctx, None, {"composite": files["sketch"]}, 2, 0)
    with pytest.raises(gr.Error, match="upload a reference artwork"):
        H.create_borrow(ctx, session, None, 2, 0)
    out = H.create_borrow(ctx, session, {"path": files["reference"]}, 2, 7)
    assert [label for _, label in out[2]] == [f"1 · stage1 · {S.BORROWED}", "2 · stage1 · seed 8"]
    session, *_ = H.edit_decompose(ctx, session, files["reference"], "none", 0, "stage1")
    before = session.edit.stages
    out = H.edit_borrow(ctx, session, "stage1", files["sketch"])
    assert torch.equal(session.edit.stages[0], before[0]) and not torch.equal(session.edit.stages[1], before[1])
    assert "borrow stage1 from another artwork" in out[4]
    with pytest.raises(gr.Error, match="first stage"):
        H.edit_borrow(ctx, session, "stage0", files["sketch"])
