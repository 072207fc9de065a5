"""An exponential moving average of the generators' and encoders' weights (StyleGAN's habit): the
average, not the last step, samples the training grids and is saved as the run's model, since a
GAN's latest weights jitter from step to step while their average settles.

The average starts from zero and is divided by 1 − decay^n after n updates (as Adam debiases its
moments), so it is a weighted mean of the weights training has passed through and never of the
initial ones: a short run's average is as good as its last steps, a long run's the usual EMA."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..workflow import Workflow


class WeightAverage(nn.Module):
    def __init__(self, wf: Workflow, decay: float):
        super().__init__()
        self.decay = decay
        self.generators = copy.deepcopy(wf.generators).requires_grad_(False)
        self.encoders = copy.deepcopy(wf.encoders).requires_grad_(False)
        self.sums = nn.ParameterList(nn.Parameter(torch.zeros_like(p), requires_grad=False) for p in self._shown())
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def _shown(self) -> list[nn.Parameter]:
        return [*self.generators.parameters(), *self.encoders.parameters()]

    @torch.no_grad()
    def update(self, wf: Workflow) -> None:
        """sum ← decay · sum + (1 − decay) · current; shown = sum / (1 − decay^n)."""
        current = [*wf.generators.parameters(), *wf.encoders.parameters()]
        torch._foreach_lerp_(list(self.sums), current, 1.0 - self.decay)
        self.updates += 1
        scale = 1.0 / (1.0 - self.decay ** int(self.updates))
        for shown, total in zip(self._shown(), self.sums):
            shown.copy_(total).mul_(scale)

    def workflow(self, wf: Workflow) -> Workflow:
        """A view of ``wf`` whose generators and encoders are the averaged ones; inference nets and
        regularisers are ``wf``'s own modules (shared, not copied)."""
        view = copy.copy(wf)
        view._modules = {**wf._modules, "generators": self.generators, "encoders": self.encoders}
        return view
