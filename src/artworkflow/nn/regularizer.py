"""The learned weight-decay regulariser of AdaIN optimisation: one non-negative weight per AdaIN
value, parameterised as 0.01 · softplus(θ, β=100) with θ starting at 0.1 (published defaults)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LearnedRegularizer(nn.Module):
    def __init__(self, dim: int, scale: float = 0.01, beta: float = 100.0, init: float = 0.1):
        super().__init__()
        self.theta = nn.Parameter(torch.full((dim,), init))
        self.scale, self.beta = scale, beta

    def forward(self) -> torch.Tensor:
        """The weights w_i (shape (dim,)) that multiply δ inside every optimisation step."""
        return self.scale * F.softplus(self.theta, beta=self.beta)
