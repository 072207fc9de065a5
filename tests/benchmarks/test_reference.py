"""The published-computation baseline of the speed benchmarks must do the same work as ours: same
generator function, same optimisation gradient, and a training step that really trains."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from reference import ReferenceTrainer, adain_step, plain_generator  # noqa: E402

from artworkflow.accel import accelerate  # noqa: E402
from artworkflow.config import StageSpec, WorkflowSpec, preset  # noqa: E402
from artworkflow.editing.adain_opt import stage_objective  # noqa: E402
from artworkflow.editing.perceptual import random_perceptual  # noqa: E402
from artworkflow.editing.render import edit_networks  # noqa: E402
from artworkflow.workflow import Discriminators, Workflow  # noqa: E402

SPEC = WorkflowSpec("t", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("final", 3)))


def _workflow() -> Workflow:
    torch.manual_seed(0)
    return Workflow(SPEC, preset("tiny")[0])


def test_plain_generator_is_the_same_function_with_the_plain_upsampling():
    g = accelerate(_workflow().generators[1].eval(), for_="train")
    plain = plain_generator(g)
    assert type(plain.up) is torch.nn.Sequential and type(g.up) is not torch.nn.Sequential
    x, z = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(plain(x, z), g(x, z), atol=1e-5, rtol=0)


def test_published_step_gradient_equals_ours():
    wf = _workflow().eval()
    g, vgg = wf.generators[1], random_perceptual()
    x_in, ref = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    adain = g.adain_vector(torch.randn(1, 8)).detach()
    delta = 0.01 * torch.randn_like(adain)
    nets = edit_networks(wf, vgg)
    objective = stage_objective(nets.generators[1], x_in, ref, perceptual=nets.perceptual)
    d = delta.clone().requires_grad_(True)
    ours = torch.autograd.grad(objective(adain + d)[0].sum(), d)[0]
    theirs = adain_step(plain_generator(g).requires_grad_(False), vgg, x_in, ref, adain, delta)
    assert ours.abs().max() > 0
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-3)


def test_reference_training_step_updates_every_trained_network():
    model, cfg = preset("tiny")
    torch.manual_seed(0)
    wf, disc = Workflow(SPEC, model), Discriminators(SPEC, model)
    trainer = ReferenceTrainer(wf, disc, cfg.lr, (cfg.beta1, cfg.beta2))
    state = lambda: {f"{n}.{k}": v.clone() for n, m in (("wf", wf), ("disc", disc))  # noqa: E731
                     for k, v in m.state_dict().items()}
    before = state()
    loss = trainer.step([torch.rand(2, c, 64, 64) * 2 - 1 for c in SPEC.channels])
    after = state()
    changed = lambda prefix: any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))  # noqa: E731
    assert torch.isfinite(torch.tensor(loss))
    assert all(changed(p) for p in ("wf.generators.", "wf.encoders.", "disc.encoded.", "disc.random."))
    assert not changed("wf.inference.") and not changed("disc.inference.")
