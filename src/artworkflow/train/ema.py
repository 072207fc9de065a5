"""An exponential moving average of the generators' and encoders' weights (StyleGAN's habit): the
average, not the last step, samples the training grids and is saved as the run's model, since a
GAN's latest weights jitter from step to step while their average settles."""
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

    @torch.no_grad()
    def update(self, wf: Workflow) -> None:
        """avg ← decay · avg + (1 − decay) · current, for every generator and encoder weight."""
        mine = [*self.generators.parameters(), *self.encoders.parameters()]
        theirs = [*wf.generators.parameters(), *wf.encoders.parameters()]
        torch._foreach_lerp_(mine, theirs, 1.0 - self.decay)

    def workflow(self, wf: Workflow) -> Workflow:
        """A view of ``wf`` whose generators and encoders are the averaged ones; inference nets and
        regularisers are ``wf``'s own modules (shared, not copied)."""
        view = copy.copy(wf)
        view._modules = {**wf._modules, "generators": self.generators, "encoders": self.encoders}
        return view
