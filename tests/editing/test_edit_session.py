import pytest
import torch
from PIL import Image

from artworkflow.data.images import save_image
from artworkflow.editing.session import EditSession
from artworkflow.errors import ConfigError


@pytest.fixture
def session(workflow, artwork):
    return EditSession.from_artwork(workflow, artwork[0], steps=3)


def same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def test_session_starts_from_the_reconstruction(session, workflow):
    rec = session.reconstruction
    assert len(session.stages) == workflow.n_stages and len(session.adain) == workflow.n_stages - 1
    assert torch.equal(session.stages[0], rec.inferred[0])
    assert same(session.stages, rec.stages)
    assert session.history == ["reconstruct"] and not session.can_undo


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_session_shows_what_the_reconstruction_measured(workflow, artwork, amp):
    """In either precision the session's images are the reconstruction's, bit for bit, and the
    reported ℓ1 is that of the image the session shows."""
    s = EditSession.from_artwork(workflow, artwork[0], steps=2, amp=amp)
    rec = s.reconstruction
    assert s.amp == amp and same(s.stages, rec.stages)
    assert rec.l1_after == float((s.stages[-1] - artwork[:1]).abs().mean())
    with torch.no_grad():
        fp32 = workflow.generate(rec.inferred[0], adain=rec.adain)[-1]
    error = float((s.stages[-1] - fp32).abs().max())
    assert error < 1e-4 if amp == "none" else 1e-4 < error < 0.1


def test_auto_precision_follows_the_hardware(workflow, artwork, monkeypatch):
    import artworkflow.precision as opt
    for native, expected in ((True, "bf16"), (False, "none")):
        monkeypatch.setattr(opt, "native_bf16", lambda device, native=native: native)
        assert EditSession.from_artwork(workflow, artwork[0], steps=1).amp == expected
    with pytest.raises(ConfigError, match="amp must be one of"):
        EditSession.from_artwork(workflow, artwork[0], steps=1, amp="fp8")


def test_resample_changes_only_that_stage_and_later(session):
    before_stages, before_adain = session.stages, session.adain
    stages = session.resample(1, seed=7)
    assert torch.equal(stages[0], before_stages[0])
    assert not torch.equal(stages[1], before_stages[1]) and not torch.equal(stages[2], before_stages[2])
    assert torch.equal(session.adain[1], before_adain[1]) and not torch.equal(session.adain[0], before_adain[0])
    last = session.stages
    session.resample(session.names[2], seed=3)
    assert same(session.stages[:2], last[:2]) and not torch.equal(session.stages[2], last[2])
    assert "seed 3" in session.history[-1]


def test_resample_is_reproducible_and_rejects_the_first_stage(session):
    a = session.resample(2, seed=11)
    session.undo()
    b = session.resample(2, seed=11)
    assert same(a, b)
    with pytest.raises(ConfigError):
        session.resample(0)


def test_set_stage_image_changes_downstream_only(session):
    before, adain = session.stages, session.adain
    edited = before[1].clone()
    edited[..., 16:48, 16:48] = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)
    after = session.set_stage_image(1, edited[0])
    assert torch.equal(after[0], before[0]) and torch.equal(after[1], edited)
    assert (after[2] - before[2]).abs().mean() > 1e-3
    assert same(session.adain, adain)


def test_undo_restores_the_exact_previous_state(session):
    s0, a0 = session.stages, session.adain
    session.resample(1, seed=1)
    s1, a1 = session.stages, session.adain
    session.set_stage_image(0, -s0[0])
    session.set_latent(2, torch.zeros(session.workflow.model_config.nz))
    assert len(session.history) == 4
    assert session.undo() and session.undo()
    assert same(session.stages, s1) and same(session.adain, a1)
    assert session.undo() and same(session.stages, s0) and same(session.adain, a0)
    assert not session.undo()


def test_exports(session, tmp_path):
    strip = Image.open(session.export_strip(tmp_path / "strip.png"))
    assert strip.width > 3 * 64 and strip.height >= 64
    gif = Image.open(session.export_gif(tmp_path / "workflow.gif"))
    assert gif.n_frames == len(session.stages) and gif.size == (64, 64)


@pytest.mark.parametrize("accel", [True, False])
def test_editing_leaves_the_workflow_as_it_was(workflow, artwork, accel):
    """Sessions may share one workflow: an edit changes neither its weights nor their flags, with the
    accelerated copies or with the plain networks."""
    flags = [p.requires_grad for p in workflow.parameters()]
    state = {k: v.clone() for k, v in workflow.state_dict().items()}
    s = EditSession.from_artwork(workflow, artwork[0], steps=2, amp="none", accel=accel)
    s.resample(1, seed=4)
    assert [p.requires_grad for p in workflow.parameters()] == flags
    assert all(torch.equal(v, state[k]) for k, v in workflow.state_dict().items())
    assert all(p.grad is None for p in workflow.parameters())
    assert (s.networks.generators is workflow.generators) != accel


def test_plain_networks_edit_like_the_accelerated_copies(workflow, artwork):
    """The same loss before the first update and the same renders of the same vectors. (Later
    losses drift apart by float rounding: Adam's first steps are ±lr whatever a gradient's size.)"""
    fast = EditSession.from_artwork(workflow, artwork[0], steps=3, amp="none")
    plain = EditSession.from_artwork(workflow, artwork[0], steps=3, amp="none", accel=False)
    first_fast, first_plain = fast.reconstruction.history[0][0], plain.reconstruction.history[0][0]
    torch.testing.assert_close(first_fast, first_plain, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast.reconstruction.history, plain.reconstruction.history):
        torch.testing.assert_close(a, b, rtol=5e-3, atol=0)
    rec = fast.reconstruction
    again = EditSession(workflow, rec.inferred[0], rec.adain, rec.latents, amp="none", accel=False)
    for a, b in zip(fast.resample(2, seed=5), again.resample(2, seed=5)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_borrow_takes_a_stage_from_another_artwork_and_undoes(session, workflow, test_items, tmp_path):
    other = test_items[1][-1]
    before, latents = session.stages, session.latents
    after = session.borrow("flat", other)
    want = workflow.artwork_latents(other[None])[0]
    assert torch.equal(after[0], before[0]) and torch.equal(session.latents[0], want)
    assert not torch.equal(after[1], before[1]) and not torch.equal(after[2], before[2])
    assert torch.equal(session.latents[1], latents[1]) and session.history[-1] == "borrow flat from another artwork"
    last = session.stages
    grey = save_image(other.mean(0, keepdim=True), tmp_path / "other-grey.png")
    session.borrow(2, grey)
    assert same(session.stages[:2], last[:2]) and not torch.equal(session.stages[2], last[2])
    assert session.history[-1] == "borrow shaded from other-grey.png"
    assert session.undo() and same(session.stages, last) and session.undo() and same(session.stages, before)
    with pytest.raises(ConfigError, match="first stage"):
        session.borrow(0, other)
