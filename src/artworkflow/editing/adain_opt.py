"""AdaIN optimisation, paper §3.2, Algorithm 1: at generation stage i, find the increment δ of the
AdaIN vector z^Ada = E_i(x_ref) for which G_i(x_i, z^Ada + δ) reproduces x_ref.

    δ = 0
    repeat T times:
        x̂ = G_i(x_i, z^Ada + δ)                          (line 4: ``stage_decoder``)
        L_Ada = ‖x̂ − x_ref‖₁ + λp · L_p(x̂, x_ref)         (line 5: ``stage_objective``)
        δ = δ − α · (∇_δ L_Ada + w ⊙ δ)                  (line 6: ``update.update_delta``, Adam's step)
    return z^Ada + δ

The networks come in frozen (``render.edit_networks``) and are never modified; what comes out is
the optimised vector. Stage indices here are generation-stage indices: generator ``i`` maps image
stage ``i`` to ``i + 1``. The z baseline is in ``latent_opt``, the reconstruction of a whole
workflow in ``reconstruct``."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..errors import ConfigError
from ..nn.generator import AdaINGenerator
from ..nn.vgg import PerceptualLoss
from ..precision import autocast, resolve_amp
from .perceptual import LAMBDA_P
from .render import layout_of, stage_decoder
from .update import OPTIMIZERS, AdamState, update_delta

StepCallback = Callable[[int, Tensor], None]
"""Called after every step with (step index, per-sample loss of the vector before that step)."""
Objective = Callable[[Tensor], tuple[Tensor, Tensor]]


def stage_objective(generator: AdaINGenerator, x_in: Tensor, reference: Tensor, *,
                    perceptual: PerceptualLoss | None = None, lambda_p: float = LAMBDA_P,
                    cache: bool = True, amp: str = "none") -> Objective:
    """``adain -> (per-sample L_Ada, image)`` with L_Ada = ℓ1 + λp · perceptual (paper eq. 6).

    With ``cache`` the content code of ``x_in`` and the VGG features of ``reference`` are computed
    here, once: they never change during the optimisation. ``cache=False`` recomputes them on every
    call (same operations, same numbers), which only exists to measure what caching saves."""
    device = x_in.device
    amp = resolve_amp(amp, device)
    reference = reference.contiguous(memory_format=layout_of(generator))

    def constants() -> tuple[Callable[[Tensor], Tensor], dict[str, Tensor] | None]:
        with torch.no_grad(), autocast(amp, device):
            features = None if perceptual is None else perceptual.features(reference)
        return stage_decoder(generator, x_in, amp), features

    fixed = constants() if cache else None

    def objective(adain: Tensor) -> tuple[Tensor, Tensor]:
        decode, ref_features = fixed if fixed is not None else constants()
        y = decode(adain)
        with autocast(amp, device):
            loss = (y.float() - reference).abs().flatten(1).mean(1)
            if perceptual is not None:
                loss = loss + lambda_p * perceptual(y, y_features=ref_features, reduction="none").float()
        return loss, y

    return objective


def check_vector(name: str, v: Tensor, batch: int, dim: int) -> None:
    if v.dim() != 2 or v.shape != (batch, dim):
        raise ValueError(f"{name} must have shape ({batch}, {dim}), got {tuple(v.shape)}")


def descend(objective: Objective, to_adain: Callable[[Tensor], Tensor], like: Tensor, steps: int, lr: float,
            weight_decay: Tensor | float | None, optimizer: str,
            progress: StepCallback | None) -> tuple[Tensor, Tensor]:
    """Lines 2-7: optimise an increment (starting at 0) of a vector; returns it and the (steps, B)
    loss history. Only the increment takes a gradient: the networks' flags are never touched."""
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if steps < 0:
        raise ConfigError(f"steps must be >= 0, got {steps}")
    if isinstance(weight_decay, Tensor):
        weight_decay = weight_decay.detach().to(like.device, like.dtype)
    delta = torch.zeros_like(like)
    state = AdamState.zeros_like(delta) if optimizer == "adam" else None
    history = torch.empty(steps, like.shape[0])
    for t in range(steps):
        delta.requires_grad_(True)
        loss, _ = objective(to_adain(delta))
        (grad,) = torch.autograd.grad(loss.sum(), delta)
        with torch.no_grad():
            delta = update_delta(delta.detach(), grad, lr, weight_decay, optimizer, state)
        history[t] = loss.detach().float().cpu()
        if progress is not None:
            progress(t, history[t])
    return delta.detach(), history


def optimize_stage(generator: AdaINGenerator, x_in: Tensor, reference: Tensor, start_adain: Tensor, *,
                   steps: int = 150, lr: float = 0.1, perceptual: PerceptualLoss | None = None,
                   lambda_p: float = LAMBDA_P, weight_decay: Tensor | float | None = None,
                   optimizer: str = "adam", cache: bool = True, amp: str = "none",
                   progress: StepCallback | None = None) -> tuple[Tensor, Tensor]:
    """Algorithm 1 for one generation stage on a batch: optimise δ so that
    ``G.decode(content(x_in), start + δ)`` matches ``reference``; returns ``(start + δ, history)``.

    The per-sample losses are summed, so every image of the batch is its own problem with its own δ
    (Adam and the weight decay act elementwise). ``weight_decay`` is w of line 6: a float, a
    per-value vector (the learned regulariser) or None."""
    check_vector("start_adain", start_adain, x_in.shape[0], generator.adain_dim)
    start = start_adain.detach()
    objective = stage_objective(generator, x_in, reference, perceptual=perceptual, lambda_p=lambda_p,
                                cache=cache, amp=amp)
    delta, history = descend(objective, lambda d: start + d, start, steps, lr, weight_decay, optimizer, progress)
    return start + delta, history
