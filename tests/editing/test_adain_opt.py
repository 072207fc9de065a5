import pytest
import torch

from artworkflow.editing.adain_opt import optimize_stage
from artworkflow.editing.latent_opt import optimize_latent_stage
from artworkflow.editing.reconstruct import reconstruct
from artworkflow.editing.update import AdamState, update_delta
from artworkflow.editing.perceptual import random_perceptual
from artworkflow.errors import ConfigError


def last_stage_problem(workflow, test_items):
    """Input and reference of the last generation stage for a batch of two test items."""
    x_in = torch.stack([item[-2] for item in test_items])
    ref = torch.stack([item[-1] for item in test_items])
    with torch.no_grad():
        start = workflow.adain_vector(len(workflow.generators) - 1, workflow.encode(len(workflow.generators) - 1, ref)[0])
    return workflow.generators[-1], x_in, ref, start


def l1_of(g, x_in, ref, adain):
    with torch.no_grad():
        return (g.decode(g.encode_content(x_in), adain) - ref).abs().flatten(1).mean(1)


def test_optimisation_lowers_each_images_loss(workflow, test_items):
    g, x_in, ref, start = last_stage_problem(workflow, test_items)
    adain, history = optimize_stage(g, x_in, ref, start, steps=20)
    assert adain.shape == start.shape and history.shape == (20, 2)
    assert (history[-1] < history[0]).all()
    assert (l1_of(g, x_in, ref, adain) < 0.9 * l1_of(g, x_in, ref, start)).all()
    assert all(not p.grad_fn and p.grad is None for p in g.parameters())
    assert all(p.requires_grad for p in g.parameters()), "parameter flags must be restored"


def test_cached_equals_uncached(workflow, test_items):
    g, x_in, ref, start = last_stage_problem(workflow, test_items)
    vgg = random_perceptual(seed=0)
    kw = dict(steps=4, perceptual=vgg, weight_decay=1e-2)
    cached, h1 = optimize_stage(g, x_in, ref, start, cache=True, **kw)
    uncached, h2 = optimize_stage(g, x_in, ref, start, cache=False, **kw)
    torch.testing.assert_close(cached, uncached, atol=1e-5, rtol=0)
    torch.testing.assert_close(h1, h2, atol=1e-5, rtol=0)


def test_weight_decay_shrinks_the_increment(workflow, test_items):
    g, x_in, ref, start = last_stage_problem(workflow, test_items)
    free, _ = optimize_stage(g, x_in, ref, start, steps=8, optimizer="sgd", lr=0.5)
    decayed, _ = optimize_stage(g, x_in, ref, start, steps=8, optimizer="sgd", lr=0.5, weight_decay=1.0)
    assert (decayed - start).norm() < (free - start).norm()


def test_update_is_differentiable_in_the_weight_decay():
    w = torch.full((4,), 0.01, requires_grad=True)
    delta, grad = torch.tensor([[0.5, -1.0, 0.0, 2.0]]), torch.ones(1, 4)
    state = AdamState.zeros_like(delta)
    state.step = 1
    state.exp_avg, state.exp_avg_sq = torch.full_like(delta, 0.2), torch.full_like(delta, 0.3)
    new = update_delta(delta, grad, 0.1, w, "adam", state)
    (gw,) = torch.autograd.grad(new.sum(), w)
    assert torch.isfinite(gw).all() and gw[2] == 0 and (gw[[0, 1, 3]] != 0).all()


def test_latent_baseline_runs_and_improves(workflow, test_items):
    g, x_in, ref, _ = last_stage_problem(workflow, test_items)
    with torch.no_grad():
        z0 = workflow.encode(len(workflow.generators) - 1, ref)[0]
    z, history = optimize_latent_stage(g, x_in, ref, z0, steps=10)
    assert z.shape == z0.shape and history[-1].mean() < history[0].mean()


def test_reconstruct_orders_stages_and_improves(workflow, artwork):
    none = reconstruct(workflow, artwork, method="none")
    assert none.l1_after == none.l1_before
    assert all(torch.equal(a, b) for a, b in zip(none.stages, none.initial))
    rec = reconstruct(workflow, artwork, method="adain", steps=15, regularization=1e-3)
    n = workflow.n_stages
    assert len(rec.inferred) == len(rec.stages) == len(rec.initial) == n
    assert len(rec.adain) == len(rec.latents) == len(rec.history) == n - 1
    assert torch.equal(rec.stages[0], rec.inferred[0]) and torch.equal(rec.inferred[-1], artwork)
    assert rec.l1_after < rec.l1_before
    with torch.no_grad():
        regenerated = workflow.generate(rec.inferred[0], adain=rec.adain)
    for a, b in zip(regenerated, rec.stages):
        torch.testing.assert_close(a, b)


def test_reconstruct_rejects_bad_options(workflow, artwork):
    with pytest.raises(ConfigError):
        reconstruct(workflow, artwork, method="pixels")
    with pytest.raises(ConfigError):
        reconstruct(workflow, artwork, regularization="strong", steps=1)
    with pytest.raises(ConfigError):
        reconstruct(workflow, artwork, method="z", regularization="learned", steps=1)


def test_each_image_of_a_batch_is_its_own_problem(workflow, test_items):
    """Plain gradient steps, so the update is linear in the gradient: Adam's first steps are ±lr for
    any gradient, which would turn float noise in near-zero gradients into differences of size lr."""
    g, x_in, ref, start = last_stage_problem(workflow, test_items)
    both, _ = optimize_stage(g, x_in, ref, start, steps=5, optimizer="sgd")
    alone, _ = optimize_stage(g, x_in[1:], ref[1:], start[1:], steps=5, optimizer="sgd")
    torch.testing.assert_close(both[1:], alone, atol=1e-5, rtol=0)
