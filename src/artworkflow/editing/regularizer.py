"""Training of the learned weight-decay regulariser (supplement, Algorithm 1), one stage at a time.

Every sample is an aligned pair (x_i, x_{i+1}). Starting from the AdaIN vector of E_i(x_{i+1}).mu, δ
takes ``inner_steps`` optimisation steps with w inside the update; after each step a new other input
x'_i is drawn to play the edited image, and the loss

    L = L_Ada(G(x_i, z + δ̃), x_{i+1}) + λ_GAN · hinge_G(D(G(x'_i, z + δ̃)))

is backpropagated through that update into θ (w = 0.01 · softplus(θ, β=100)), and θ takes an Adam
step. As in the published code the derivative is truncated to the latest update (δ before it is a
constant), so w receives gradient through its own term w ⊙ δ: the very first update from δ = 0 cannot
depend on w, which is why several inner steps are needed. As in the published code, the stage's encoded-branch
discriminator judges the edits: restored to its trained weights at the start of every sample, then
fine-tuned (Adam 2e-4, betas 0.5/0.999) after every inner step on that step's edit (hinge loss, the
real x'_{i+1} against the edited fake). The published schedule is 500 samples × 80 inner steps, i.e.
40,000 updates of θ (Adam lr 1e-3, weight decay 1e-8).
"""
from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable

import torch
from torch import Tensor

from .. import losses as L
from ..config import NON_NEGATIVE, POSITIVE, check_range
from ..data.dataset import StageDataset
from ..errors import ConfigError, TrainingDivergedError
from ..nn.discriminator import MultiScaleDiscriminator
from ..nn.encoder import LatentEncoder
from ..nn.generator import AdaINGenerator
from ..nn.regularizer import LearnedRegularizer
from ..nn.vgg import PerceptualLoss
from ..accel import accelerate
from ..workflow import Discriminators, Workflow
from .adain_opt import stage_objective
from .perceptual import LAMBDA_P
from .render import edit_networks, stage_decoder
from .update import AdamState, update_delta


def generation_index(workflow: Workflow, stage: int | str) -> int:
    """The generation stage that produces image stage ``stage`` (a name, or an index ≥ 1)."""
    s = workflow.stage_index(stage)
    if s == 0:
        raise ConfigError(f"stage '{workflow.spec.names[0]}' is the first stage: no generator produces it; "
                          f"pick one of {', '.join(workflow.spec.names[1:])}")
    return s - 1


def regularizer_critic(discriminators: Discriminators, i: int) -> MultiScaleDiscriminator:
    """The critic of the edits of generation stage i: its encoded-branch discriminator (published)."""
    return discriminators.encoded[i]


def _pair(dataset: StageDataset, i: int, index: int, device: torch.device) -> tuple[Tensor, Tensor]:
    item = dataset[index]
    return item[i][None].to(device), item[i + 1][None].to(device)


def train_regularizer(workflow: Workflow, discriminators: Discriminators, dataset: StageDataset,
                      stage: int | str, samples: int = 500, *, lr: float = 1e-3, weight_decay: float = 1e-8,
                      lambda_gan: float = 1.0, inner_steps: int = 80, inner_lr: float = 0.1,
                      perceptual: PerceptualLoss | None = None, lambda_p: float = LAMBDA_P, d_lr: float = 2e-4,
                      seed: int = 0, accel: bool = True, progress: bool = True,
                      save: Callable[[], Any] | None = None, save_every: int = 50) -> dict[str, Any]:
    """Train the regulariser of the generator producing image stage ``stage`` on ``samples`` samples
    of ``inner_steps`` updates of θ each, in place; ``workflow.regularizer_steps`` counts the samples.
    ``save`` is called every ``save_every`` samples, so that an interrupted run keeps most of its work.
    The reconstructions and the edits render through the same frozen float32 networks as editing's
    (``edit_networks``); the critic trains as in training (accelerated unless ``accel`` is False).
    Returns the last losses and a summary of the learned weights."""
    i = generation_index(workflow, stage)
    for name, value, allowed in (("lr", lr, POSITIVE), ("inner_lr", inner_lr, POSITIVE), ("d_lr", d_lr, POSITIVE),
                                 ("lambda_gan", lambda_gan, NON_NEGATIVE),
                                 ("weight_decay", weight_decay, NON_NEGATIVE)):
        check_range(name, value, allowed)
    if save_every < 1:
        raise ConfigError(f"save_every is {save_every}; it must be >= 1 (samples between saves)")
    if samples < 1 or inner_steps < 2:
        raise ConfigError("samples must be >= 1 and inner_steps >= 2 (the first update from δ = 0 cannot "
                          "depend on the regulariser)")
    if len(dataset) < 2:
        raise ConfigError(f"{dataset.root}: the regulariser needs at least 2 training items, found {len(dataset)}")
    device = workflow.device
    workflow.eval()
    nets = edit_networks(workflow, perceptual, "none", accel)
    g, enc, reg = nets.generators[i], workflow.encoders[i], workflow.regularizers[i]
    disc = regularizer_critic(discriminators, i).to(device)
    trained_disc = copy.deepcopy(disc.state_dict())
    critic = accelerate(disc, for_="train") if accel else disc
    opt = torch.optim.Adam(reg.parameters(), lr=lr, weight_decay=weight_decay)
    rng = torch.Generator().manual_seed(seed)

    def other(a: int) -> tuple[Tensor, Tensor]:
        b = int(torch.randint(len(dataset) - 1, (1,), generator=rng))
        return _pair(dataset, i, b + (b >= a), device)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=samples, desc=f"regulariser {workflow.spec.names[i + 1]}", dynamic_ncols=True)
    logs: dict[str, float] = {}
    t0 = time.perf_counter()
    reg.requires_grad_(True)
    try:
        for n in range(1, samples + 1):
            a = int(torch.randint(len(dataset), (1,), generator=rng))
            x, target = _pair(dataset, i, a, device)
            disc.load_state_dict(trained_disc)
            opt_d = torch.optim.Adam(disc.parameters(), lr=d_lr, betas=(0.5, 0.999))
            logs = _one_sample(g, enc, reg, critic, opt, opt_d, x, target, lambda: other(a),
                               inner_steps, inner_lr, lambda_gan, nets.perceptual, lambda_p)
            workflow.regularizer_steps[i] += 1
            if save is not None and n % save_every == 0 and n < samples:
                save()
            if bar is not None:
                bar.set_postfix_str(" ".join(f"{k}={v:.3f}" for k, v in logs.items()), refresh=False)
                bar.update(1)
    finally:
        disc.load_state_dict(trained_disc)
        disc.requires_grad_(True)
        if bar is not None:
            bar.close()
    with torch.no_grad():
        w = reg()
    return {"stage": workflow.spec.names[i + 1], "generation_stage": i, "samples": samples,
            "inner_steps": inner_steps, "updates": samples * inner_steps,
            "regularizer_steps": int(workflow.regularizer_steps[i]),
            "seconds": time.perf_counter() - t0, **logs,
            "w_mean": float(w.mean()), "w_min": float(w.min()), "w_max": float(w.max())}


def _one_sample(g: AdaINGenerator, enc: LatentEncoder, reg: LearnedRegularizer, disc: MultiScaleDiscriminator,
                opt: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, x: Tensor, target: Tensor,
                draw_other: Callable[[], tuple[Tensor, Tensor]], inner_steps: int, inner_lr: float,
                lambda_gan: float, perceptual: PerceptualLoss | None, lambda_p: float) -> dict[str, float]:
    """Inner optimisation of δ on one sample, updating θ (and the critic) after every step, each
    step judging the edit of a newly drawn other input."""
    with torch.no_grad():
        start = g.adain_vector(enc(target)[0])
    rec_objective = stage_objective(g, x, target, perceptual=perceptual, lambda_p=lambda_p)
    state = AdamState.zeros_like(start)
    delta = torch.zeros_like(start, requires_grad=True)
    rec, _ = rec_objective(start + delta)
    for _ in range(inner_steps):
        (grad,) = torch.autograd.grad(rec.sum(), delta)
        delta = update_delta(delta.detach(), grad, inner_lr, reg(), "adam", state)
        rec, _ = rec_objective(start + delta)
        x_other, real_other = draw_other()
        edited = stage_decoder(g, x_other)(start + delta)
        disc.requires_grad_(False)
        gan = L.hinge_g(disc(edited))
        loss = rec.sum() + lambda_gan * gan
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=list(reg.parameters()), retain_graph=True)
        opt.step()
        state.detach_()
        disc.requires_grad_(True)
        d_loss = L.hinge_d(disc(real_other), disc(edited.detach()))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
    values = {"rec": float(rec.detach().sum()), "gan": float(gan.detach()), "d": float(d_loss.detach())}
    if not all(math.isfinite(v) for v in values.values()):
        raise TrainingDivergedError(f"regulariser training diverged (losses {values}); lower --lr")
    return values
