"""The app's session state without Gradio: creation path, edit wrapper, upload checks, demo model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from artworkflow.app import state as S
from artworkflow.errors import CheckpointError, ConfigError, ImageError


def sketch(pipeline, value: float = 0.0) -> torch.Tensor:
    """A first-stage image with a dark square on white paper."""
    c = pipeline.workflow.spec.channels[0]
    x = torch.ones(c, 64, 64)
    x[:, 16:48, 16:48] = value
    return x


# ---------------------------------------------------------------- demo model and uploads
def test_default_model_path_names_the_path_and_the_fix(monkeypatch, tmp_path):
    missing = tmp_path / "demo-model"
    monkeypatch.setattr(S, "DEMO_MODEL", missing)
    with pytest.raises(CheckpointError) as e:
        S.default_model_path()
    assert str(missing) in str(e.value) and "--model" in str(e.value)


def test_default_model_path_returns_a_saved_model(monkeypatch, tmp_path, make_pipeline):
    from artworkflow.pipeline import WorkflowPipeline
    make_pipeline(3).workflow.save_pretrained(tmp_path / "demo-model")
    monkeypatch.setattr(S, "DEMO_MODEL", tmp_path / "demo-model")
    assert WorkflowPipeline.from_pretrained(S.default_model_path()).names == ["stage0", "stage1", "stage2"]


def test_read_upload_refuses_oversized_images_before_decoding(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("L", (4100, 8), 255).save(path)
    with pytest.raises(ImageError) as e:
        S.read_upload(path, 1)
    message = str(e.value)
    assert "4100×8" in message and "4096" in message and str(tmp_path) not in message
    assert S.read_upload(path, 1, max_side=5000).shape == (1, 8, 4100)


def test_read_upload_hides_the_server_path_of_unreadable_files(tmp_path):
    path = tmp_path / "fake.png"
    path.write_bytes(b"not an image at all")
    with pytest.raises(ImageError) as e:
        S.read_upload(path, 3)
    assert str(e.value).startswith("the uploaded image:") and str(tmp_path) not in str(e.value)


def test_read_upload_puts_transparent_drawings_on_white_paper(tmp_path):
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[8:24, 8:24] = (0, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "canvas.png")
    x = S.read_upload(tmp_path / "canvas.png", 1)
    assert x.shape == (1, 32, 32)
    assert float(x[0, 0, 0]) == 1.0 and float(x[0, 16, 16]) == -1.0
    assert not S.is_blank(x) and S.is_blank(torch.ones(1, 8, 8))


def test_bundled_examples_only_for_the_sample_workflow():
    first, final = S.bundled_examples(["line", "flat", "shaded"])
    assert first and final and all(p.parent.name == "line" for p in first)
    assert all(p.parent.name == "shaded" for p in final)
    assert S.bundled_examples(["sketch", "flat", "shaded"]) == ([], [])


# ---------------------------------------------------------------- create
def test_create_path_variations_pick_and_finish(pipeline, tmp_path):
    names, n = pipeline.names, len(pipeline.names)
    path = S.CreatePath(pipeline, sketch(pipeline))
    assert path.next_stage == 1 and not path.done
    for stage in range(1, n):
        cands = path.variations(3, seed=10 * stage)
        assert len(cands) == 3 and all(c.shape == (1, 3, 64, 64) for c in cands)
        assert path.candidate_seeds == [10 * stage, 10 * stage + 1, 10 * stage + 2]
        assert not torch.equal(cands[0], cands[1])
        step = path.pick(1)
        assert step.name == names[stage] and step.seed == 10 * stage + 1 and torch.equal(step.image, cands[1])
        assert path.candidates == []
    assert path.done and [s.seed for s in path.steps] == [None] + [10 * s + 1 for s in range(1, n)]
    with pytest.raises(ConfigError):
        path.variations(2)
    downloads = path.export(tmp_path)
    assert Image.open(downloads.final).size == (64, 64)
    assert Image.open(downloads.gif).n_frames == n
    assert Image.open(downloads.strip).width > 64 * n


def test_create_path_keeps_the_chosen_stages_when_rolling_again(pipeline):
    path = S.CreatePath(pipeline, sketch(pipeline))
    path.variations(2, seed=0)
    kept = path.pick(0).image
    again = path.variations(2, seed=5)
    assert path.steps[1].image is kept and len(again) == 2
    assert path.back() and len(path.steps) == 1 and path.candidates == []
    assert not path.back()


def test_same_seed_at_every_stage_reproduces_pipeline_sample(pipeline):
    x = sketch(pipeline)
    path = S.CreatePath(pipeline, x)
    while not path.done:
        path.variations(1, seed=42)
        path.pick(0)
    reference = pipeline.sample(pipeline.prepare(x), seed=42)
    for step, ref in zip(path.steps, reference):
        torch.testing.assert_close(step.image, ref, rtol=0, atol=1e-5)


def test_create_path_rejects_out_of_order_requests(pipeline):
    path = S.CreatePath(pipeline, sketch(pipeline))
    with pytest.raises(ConfigError, match="no variations"):
        path.pick(0)
    with pytest.raises(ConfigError, match="between 1 and"):
        path.variations(S.MAX_VARIATIONS + 1)
    path.variations(2)
    with pytest.raises(ConfigError, match="from 1 to 2"):
        path.pick(2)
    with pytest.raises(ConfigError, match="seed"):
        path.variations(2, seed=-1)


# ---------------------------------------------------------------- edit
@pytest.fixture(scope="module")
def edit(pipeline) -> S.EditState:
    artwork = pipeline.sample(pipeline.prepare(sketch(pipeline)), seed=1)[-1][0]
    return S.EditState.from_artwork(pipeline, artwork, "adain", steps=2)


def test_edit_at_a_stage_keeps_every_earlier_stage(pipeline, edit):
    n = len(pipeline.names)
    for stage in range(1, n):
        before = edit.stages
        after = edit.resample(stage, seed=100 + stage)
        assert all(torch.equal(a, b) for a, b in zip(before[:stage], after[:stage]))
        assert not all(torch.equal(a, b) for a, b in zip(before[stage:], after[stage:]))
        assert edit.history[-1] == f"resample {pipeline.names[stage]} (seed {100 + stage})"
        assert edit.undo() and all(torch.equal(a, b) for a, b in zip(before, edit.stages))
    assert not edit.undo() and edit.history == ["reconstruct"]


def test_edit_redraw_replaces_a_stage_and_regenerates_after_it(pipeline, edit, tmp_path):
    before = edit.stages
    drawn = -torch.ones(3, 256, 256)
    after = edit.redraw(1, drawn)
    assert torch.equal(after[0], before[0])
    assert float(after[1].max()) == -1.0
    assert len(after) == len(before) and edit.history[-1].startswith("set image of")
    downloads = edit.export(tmp_path)
    assert Image.open(downloads.gif).n_frames == len(before)
    edit.undo()


def test_edit_first_stage_has_no_latent_to_resample(edit):
    with pytest.raises(ConfigError, match="first stage"):
        edit.resample(0, seed=1)


@pytest.fixture(scope="module")
def three_stages(make_pipeline):
    return make_pipeline(3)


def test_edit_reports_progress_and_summary(three_stages):
    artwork = torch.zeros(3, 64, 64)
    seen: list[tuple[float, str]] = []
    edit = S.EditState.from_artwork(three_stages, artwork, "adain", steps=2,
                                    progress=lambda f, line: seen.append((f, line)))
    n_gen = len(three_stages.names) - 1
    assert len(seen) == 2 * n_gen and seen[-1][0] == pytest.approx(1.0)
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    assert three_stages.names[-1] in seen[-1][1]
    assert "AdaIN optimisation, 2 steps" in edit.summary() and "ℓ1" in edit.summary()
    assert len(edit.inferred) == len(three_stages.names)


def test_edit_modes(three_stages):
    artwork = torch.zeros(3, 64, 64)
    none = S.EditState.from_artwork(three_stages, artwork, "none", steps=0)
    assert none.session.reconstruction.method == "none" and none.notes == []
    learned = S.EditState.from_artwork(three_stages, artwork, "adain+learned", steps=1)
    assert learned.session.reconstruction.regularization == "learned"
    assert learned.notes and "untrained" in learned.notes[0]
    with pytest.raises(ConfigError, match="reconstruction must be"):
        S.EditState.from_artwork(three_stages, artwork, "z", steps=1)
    with pytest.raises(ConfigError, match="between 0 and"):
        S.EditState.from_artwork(three_stages, artwork, "adain", steps=S.MAX_STEPS + 1)


def test_the_default_mode_is_the_learned_regularisation_where_trained(make_pipeline):
    pipe = make_pipeline(3)
    artwork = torch.zeros(3, 64, 64)
    untrained = S.EditState.from_artwork(pipe, artwork, steps=1)
    assert untrained.mode == "auto" and untrained.session.reconstruction.regularization == "auto"
    assert "w = 0 for stage1, stage2" in untrained.summary()
    assert len(untrained.notes) == 1 and "regularization auto: w = 0" in untrained.notes[0]
    pipe.workflow.regularizer_steps[0] += 1
    mixed = S.EditState.from_artwork(pipe, artwork, steps=1)
    assert "learned regularisation for stage1; w = 0 for stage2" in mixed.summary()
    pipe.workflow.regularizer_steps[1] += 1
    trained = S.EditState.from_artwork(pipe, artwork, steps=1)
    assert "learned regularisation for stage1, stage2" in trained.summary() and trained.notes == []


def test_perceptual_falls_back_to_l1_with_a_note(monkeypatch, tmp_path):
    monkeypatch.delenv("ARTWORKFLOW_VGG16", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    perceptual, note = S.load_perceptual_or_note()
    assert perceptual is None
    assert "ℓ1 only" in note and "ARTWORKFLOW_VGG16" in note


# ---------------------------------------------------------------- full size
def test_the_app_creates_and_edits_at_the_artworks_own_size(pipeline, tmp_path):
    first = torch.ones(pipeline.workflow.spec.channels[0], 96, 160)
    first[:, 20:70, 40:120] = -1.0
    path = S.CreatePath(pipeline, first)
    while not path.done:
        path.variations(2, 1)
        assert [tuple(c.shape[-2:]) for c in path.full_candidates()] == [(96, 160)] * 2
        path.pick(0)
    assert [tuple(s.shape[-2:]) for s in path.full_steps()] == [(96, 160)] * len(pipeline.names)
    downloads = path.export(tmp_path / "c")
    assert Image.open(downloads.final).size == (160, 96)
    assert sorted(p.suffix for p in downloads.layers) == [".ora", ".psd"]
    assert all(p in downloads.paths() for p in map(str, downloads.layers))
    art = torch.rand(3, 2000, 1000) * 2 - 1
    edit = S.EditState.from_artwork(pipeline, art, "none", 0)
    assert tuple(edit.full_stages[-1].shape) == (3, S.APP_MAX_SIZE, S.APP_MAX_SIZE // 2)
    assert Image.open(edit.export(tmp_path / "e").final).size == (S.APP_MAX_SIZE // 2, S.APP_MAX_SIZE)
