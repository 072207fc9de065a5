"""Reconstruction of a finished artwork (paper §3.1 test-time inference + §3.2): infer its earlier
stages, then regenerate it stage by stage, fitting each stage's vector by Algorithm 1."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from ..errors import ConfigError
from ..nn.vgg import PerceptualLoss
from ..workflow import Workflow
from .adain_opt import optimize_stage
from .latent_opt import optimize_latent_stage
from .perceptual import LAMBDA_P
from .regularization import stage_weights
from .render import EditNetworks, edit_networks, stage_renderer

METHODS = ("adain", "none", "z")

ReconstructCallback = Callable[[int, int, Tensor], None]
"""Called with (generation stage, step, per-sample loss) after every optimisation step."""


@dataclass
class Reconstruction:
    """A finished artwork decomposed into stages and regenerated. Lists of images have one entry per
    image stage (``N``); lists of vectors one per generation stage (``N - 1``, entry ``i`` drives
    stage ``i + 1``)."""

    artwork: Tensor
    inferred: list[Tensor]
    initial: list[Tensor]
    initial_adain: list[Tensor]
    stages: list[Tensor]
    adain: list[Tensor]
    latents: list[Tensor]
    history: list[Tensor] = field(default_factory=list)
    method: str = "adain"
    regularization: str | float = "auto"

    @staticmethod
    def _l1(a: Tensor, b: Tensor) -> float:
        return float((a.float() - b.float()).abs().mean())

    @property
    def l1_before(self) -> float:
        """Final-stage ℓ1 to the artwork of the reconstruction from the encoded vectors."""
        return self._l1(self.initial[-1], self.artwork)

    @property
    def l1_after(self) -> float:
        """Final-stage ℓ1 to the artwork after optimisation (equal to ``l1_before`` for "none")."""
        return self._l1(self.stages[-1], self.artwork)


def _progress_bar(total: int, names: list[str]) -> tuple[ReconstructCallback, Callable[[], None]]:
    from tqdm import tqdm
    bar = tqdm(total=total, desc="optimise", dynamic_ncols=True)

    def update(i: int, step: int, loss: Tensor) -> None:
        bar.set_postfix_str(f"{names[i + 1]} loss={float(loss.mean()):.4f}", refresh=False)
        bar.update(1)

    return update, bar.close


def _check(method: str, regularization: str | float, final: Tensor) -> None:
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "z" and regularization == "learned":
        raise ConfigError("the learned regulariser applies to AdaIN optimisation, not to method 'z'")
    if final.dim() != 4:
        raise ValueError(f"final must be a (B, C, H, W) batch, got shape {tuple(final.shape)}")


def reconstruct(workflow: Workflow, final: Tensor, *, method: str = "adain",
                regularization: str | float = "auto", steps: int = 150, lr: float = 0.1,
                perceptual: PerceptualLoss | None = None, lambda_p: float = LAMBDA_P,
                optimizer: str = "adam", cache: bool = True, amp: str = "none", accel: bool = True,
                networks: EditNetworks | None = None,
                progress: bool | ReconstructCallback | None = None) -> Reconstruction:
    """Infer every stage of ``final`` (B, C, R, R), then regenerate it stage by stage, optimising each
    stage's vector.

    Generation stage ``i`` starts from the AdaIN vector of ``E_i(reference).mu`` where the reference is
    the inferred stage ``i + 1``, except for the last stage, which uses the artwork itself. Stages are
    optimised in order and frozen once done; the optimised output of stage ``i`` is the input of stage
    ``i + 1``, the first input being the inferred first stage. Every image is rendered by
    ``stage_renderer`` on ``networks`` (default: ``edit_networks(workflow, perceptual, amp, accel)``;
    "auto" picks bf16 where the hardware has it)."""
    _check(method, regularization, final)
    workflow.eval()
    nets = networks if networks is not None else edit_networks(workflow, perceptual, amp, accel)
    n_gen = workflow.n_stages - 1
    weights = stage_weights(workflow, regularization, method)
    with torch.no_grad():
        inferred = workflow.infer(final)
        references = [inferred[i + 1] for i in range(n_gen - 1)] + [final]
        latents = workflow.artwork_latents(final, inferred)
        initial_adain = [workflow.adain_vector(i, z) for i, z in enumerate(latents)]
    initial = [inferred[0]]
    for i, g in enumerate(nets.generators):
        initial.append(stage_renderer(g, initial[i], nets.amp)(initial_adain[i]))

    close: Callable[[], None] | None = None
    callback = progress if callable(progress) else None
    if progress is True and method != "none":
        callback, close = _progress_bar(steps * n_gen, workflow.spec.names)
    stages, adain, zs, history = [inferred[0]], [], [], []
    try:
        for i, g in enumerate(nets.generators):
            step_cb = (lambda t, loss, i=i: callback(i, t, loss)) if callback is not None else None
            kw = dict(steps=steps, lr=lr, perceptual=nets.perceptual, lambda_p=lambda_p, weight_decay=weights[i],
                      optimizer=optimizer, cache=cache, amp=nets.amp, progress=step_cb)
            vec, z = initial_adain[i], latents[i]
            if method == "adain":
                vec, hist = optimize_stage(g, stages[i], references[i], initial_adain[i], **kw)
                history.append(hist)
            elif method == "z":
                z, hist = optimize_latent_stage(g, stages[i], references[i], latents[i],
                                                mapping=workflow.generators[i], **kw)
                with torch.no_grad():
                    vec = workflow.adain_vector(i, z)
                history.append(hist)
            stages.append(stage_renderer(g, stages[i], nets.amp)(vec))
            adain.append(vec)
            zs.append(z)
    finally:
        if close is not None:
            close()
    return Reconstruction(final, inferred, initial, initial_adain, stages, adain, zs, history, method,
                          regularization)
