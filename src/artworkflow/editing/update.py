"""The update of Algorithm 1, line 6, δ ← δ − α · step(∇L + w ⊙ δ), with Adam's or SGD's step.

Adam's moments are kept outside any module so that one update can be differentiated with respect to
the weight decay w (the learned regulariser's training)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError

OPTIMIZERS = ("adam", "sgd")


@dataclass
class AdamState:
    """Moments of the Adam-style update of δ."""

    exp_avg: Tensor
    exp_avg_sq: Tensor
    step: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    @classmethod
    def zeros_like(cls, x: Tensor) -> "AdamState":
        return cls(torch.zeros_like(x), torch.zeros_like(x))

    def detach_(self) -> "AdamState":
        self.exp_avg = self.exp_avg.detach()
        self.exp_avg_sq = self.exp_avg_sq.detach()
        return self


def update_delta(delta: Tensor, grad: Tensor, lr: float, weight_decay: Tensor | float | None,
                 optimizer: str, state: AdamState | None) -> Tensor:
    """One update of Algorithm 1, line 6: δ − α · step(∇L + w ⊙ δ).

    The weight decay sits inside the gradient, so with Adam it is normalised like the loss gradient
    (as in the published code). Written without in-place operations so the result stays
    differentiable with respect to ``weight_decay``; the second moment uses the detached gradient,
    as published, so that derivative flows through the first moment only."""
    g = grad if weight_decay is None else grad + weight_decay * delta
    if optimizer == "sgd":
        return delta - lr * g
    if optimizer != "adam" or state is None:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)} (adam needs a state), got {optimizer!r}")
    b1, b2 = state.betas
    state.step += 1
    state.exp_avg = b1 * state.exp_avg + (1 - b1) * g
    state.exp_avg_sq = b2 * state.exp_avg_sq + (1 - b2) * g.detach().square()
    denom = state.exp_avg_sq.sqrt() / math.sqrt(1 - b2 ** state.step) + state.eps
    return delta - (lr / (1 - b1 ** state.step)) * state.exp_avg / denom
