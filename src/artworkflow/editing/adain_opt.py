"""AdaIN optimisation (paper §3.2, Algorithm 1) and the latent-optimisation baseline.

The networks come in frozen and are never modified; what comes out is the optimised vector. Stage
indices here are generation-stage indices: generator ``i`` maps image stage ``i`` to ``i + 1``.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn.generator import AdaINGenerator
from ..nn.vgg import PerceptualLoss
from ..workflow import Workflow
from .fastdecode import prepare_decoder
from .frozencopy import frozen_copy
from .perceptual import LAMBDA_P

METHODS = ("adain", "none", "z")
OPTIMIZERS = ("adam", "sgd")
AMP_CHOICES = ("none", "bf16", "auto")

StepCallback = Callable[[int, Tensor], None]
"""Called after every step with (step index, per-sample loss of the vector before that step)."""


@dataclass
class AdamState:
    """Moments of the Adam-style update of δ, kept outside any module so that one update can be
    differentiated with respect to the weight decay (the learned regulariser's training)."""

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


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """No parameter gradients (only the optimised vector needs one); flags restored on exit."""
    params = [p for m in modules if m is not None for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bf16 natively (AMX or AVX-512 BF16 on the CPU), where bf16
    editing at paper size is about 1.7× faster than float32 and reconstructs as closely."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(getattr(torch.cpu, name, lambda: False)()
                   for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return False


def resolve_amp(amp: str, device: torch.device) -> str:
    """"auto" becomes "bf16" where ``native_bf16`` and "none" elsewhere; the others stay."""
    if amp not in AMP_CHOICES:
        raise ConfigError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {amp!r}")
    if amp == "auto":
        return "bf16" if native_bf16(device) else "none"
    return amp


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    amp = resolve_amp(amp, device)
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _content_decoder(generator: AdaINGenerator, x_in: Tensor, amp: str) -> Callable[[Tensor], Tensor]:
    """The decoder of ``generator``'s frozen copy for ``amp`` (resolved) with the content code of
    ``x_in`` encoded: shared by the optimisation and the rendering, so both compute the same image."""
    g = frozen_copy(generator, amp)
    with torch.no_grad(), autocast(amp, x_in.device):
        return prepare_decoder(g, g.encode_content(x_in.contiguous(memory_format=torch.channels_last)))


def stage_objective(generator: AdaINGenerator, x_in: Tensor, reference: Tensor, *,
                    perceptual: PerceptualLoss | None = None, lambda_p: float = LAMBDA_P,
                    cache: bool = True, amp: str = "none") -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """``adain -> (per-sample L_Ada, image)`` with L_Ada = ℓ1 + λp · perceptual (paper eq. 6).

    With ``cache`` the content code of ``x_in`` and the VGG features of ``reference`` are computed
    here, once: they never change during the optimisation. ``cache=False`` recomputes them on every
    call (same operations, same numbers), which only exists to measure what caching saves."""
    device = x_in.device
    amp = resolve_amp(amp, device)
    perceptual = frozen_copy(perceptual, amp)
    reference = reference.contiguous(memory_format=torch.channels_last)

    def constants() -> tuple[Callable[[Tensor], Tensor], dict[str, Tensor] | None]:
        decode = _content_decoder(generator, x_in, amp)
        with torch.no_grad(), autocast(amp, device):
            features = None if perceptual is None else perceptual.features(reference)
        return decode, features

    fixed = constants() if cache else None

    def objective(adain: Tensor) -> tuple[Tensor, Tensor]:
        decode, ref_features = fixed if fixed is not None else constants()
        with autocast(amp, device):
            y = decode(adain)
            loss = (y.float() - reference).abs().flatten(1).mean(1)
            if perceptual is not None:
                loss = loss + lambda_p * perceptual(y, y_features=ref_features, reduction="none").float()
        return loss, y

    return objective


def stage_renderer(generator: AdaINGenerator, x_in: Tensor, amp: str = "none") -> Callable[[Tensor], Tensor]:
    """``adain -> image`` (float32) of one generation stage for a fixed input, computed the way the
    optimisation computes it (``stage_objective``), in the precision of ``amp``: reconstructions and
    edit sessions show exactly the images whose loss was measured. Plain ``no_grad`` rather than
    inference mode, so that the images can later feed an optimisation."""
    device = x_in.device
    amp = resolve_amp(amp, device)
    decode = _content_decoder(generator, x_in, amp)

    def render(adain: Tensor) -> Tensor:
        with torch.no_grad(), autocast(amp, device):
            return decode(adain).float()

    return render


def _check_vector(name: str, v: Tensor, batch: int, dim: int) -> None:
    if v.dim() != 2 or v.shape != (batch, dim):
        raise ValueError(f"{name} must have shape ({batch}, {dim}), got {tuple(v.shape)}")


def _descend(objective: Callable[[Tensor], tuple[Tensor, Tensor]], to_adain: Callable[[Tensor], Tensor],
             like: Tensor, steps: int, lr: float, weight_decay: Tensor | float | None, optimizer: str,
             progress: StepCallback | None) -> tuple[Tensor, Tensor]:
    """Optimise an increment (starting at 0) of a vector; returns it and the (steps, B) loss history."""
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
    _check_vector("start_adain", start_adain, x_in.shape[0], generator.adain_dim)
    start = start_adain.detach()
    with frozen(generator, perceptual):
        objective = stage_objective(generator, x_in, reference, perceptual=perceptual, lambda_p=lambda_p,
                                    cache=cache, amp=amp)
        delta, history = _descend(objective, lambda d: start + d, start, steps, lr, weight_decay,
                                  optimizer, progress)
    return start + delta, history


def optimize_latent_stage(generator: AdaINGenerator, x_in: Tensor, reference: Tensor, start_z: Tensor, *,
                          steps: int = 150, lr: float = 0.1, perceptual: PerceptualLoss | None = None,
                          lambda_p: float = LAMBDA_P, weight_decay: float | None = None,
                          optimizer: str = "adam", cache: bool = True, amp: str = "none",
                          progress: StepCallback | None = None) -> tuple[Tensor, Tensor]:
    """The baseline of Table 1 ("z"): the same optimisation, but of the latent z that the MLP maps to
    the AdaIN vector; returns ``(z, history)``. Its few dimensions limit how close it can get."""
    _check_vector("start_z", start_z, x_in.shape[0], generator.nz)
    if isinstance(weight_decay, Tensor):
        raise ConfigError("the learned regulariser weighs AdaIN values; use a float weight decay for z")
    start = start_z.detach()
    with frozen(generator, perceptual):
        objective = stage_objective(generator, x_in, reference, perceptual=perceptual, lambda_p=lambda_p,
                                    cache=cache, amp=amp)
        delta, history = _descend(objective, lambda d: generator.adain_vector(start + d), start, steps, lr,
                                  weight_decay, optimizer, progress)
    return start + delta, history


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
    regularization: str | float = "none"

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


ReconstructCallback = Callable[[int, int, Tensor], None]
"""Called with (generation stage, step, per-sample loss) after every optimisation step."""


def resolve_regularization(workflow: Workflow, regularization: str | float, i: int) -> Tensor | float | None:
    """w for generation stage ``i``: None, a fixed float, or the stage's learned regulariser."""
    if isinstance(regularization, (int, float)) and not isinstance(regularization, bool):
        if regularization < 0:
            raise ConfigError(f"weight decay must be >= 0, got {regularization}")
        return float(regularization)
    if regularization == "none":
        return None
    if regularization == "learned":
        if int(workflow.regularizer_steps[i]) == 0:
            warnings.warn(f"the regulariser of stage '{workflow.spec.names[i + 1]}' is untrained (its "
                          "initial weights act like w≈1e-3); train it with `artworkflow train-regularizer`",
                          stacklevel=3)
        with torch.no_grad():
            return workflow.regularizers[i]().detach()
    try:
        return resolve_regularization(workflow, float(regularization), i)
    except (TypeError, ValueError):
        raise ConfigError(f"regularization must be 'none', 'learned' or a weight decay like 1e-3, "
                          f"got {regularization!r}") from None


def _progress_bar(total: int, names: list[str]) -> tuple[ReconstructCallback, Callable[[], None]]:
    from tqdm import tqdm
    bar = tqdm(total=total, desc="optimise", dynamic_ncols=True)

    def update(i: int, step: int, loss: Tensor) -> None:
        bar.set_postfix_str(f"{names[i + 1]} loss={float(loss.mean()):.4f}", refresh=False)
        bar.update(1)

    return update, bar.close


def reconstruct(workflow: Workflow, final: Tensor, *, method: str = "adain",
                regularization: str | float = "none", steps: int = 150, lr: float = 0.1,
                perceptual: PerceptualLoss | None = None, lambda_p: float = LAMBDA_P,
                optimizer: str = "adam", cache: bool = True, amp: str = "none",
                progress: bool | ReconstructCallback | None = None) -> Reconstruction:
    """Infer every stage of ``final`` (B, C, R, R), then regenerate it stage by stage, optimising each
    stage's vector (paper §3.1 test-time inference + §3.2).

    Generation stage ``i`` starts from the AdaIN vector of ``E_i(reference).mu`` where the reference is
    the inferred stage ``i + 1``, except for the last stage, which uses the artwork itself. Stages are
    optimised in order and frozen once done; the optimised output of stage ``i`` is the input of stage
    ``i + 1``, the first input being the inferred first stage. Every image is rendered by
    ``stage_renderer`` in the precision of ``amp`` ("auto" picks bf16 where the hardware has it)."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "z" and regularization == "learned":
        raise ConfigError("the learned regulariser applies to AdaIN optimisation, not to method 'z'")
    if final.dim() != 4:
        raise ValueError(f"final must be a (B, C, H, W) batch, got shape {tuple(final.shape)}")
    workflow.eval()
    amp = resolve_amp(amp, final.device)
    n_gen = workflow.n_stages - 1
    weights = [resolve_regularization(workflow, regularization, i) for i in range(n_gen)]
    with torch.no_grad():
        inferred = workflow.infer(final)
        references = [inferred[i + 1] for i in range(n_gen - 1)] + [final]
        latents = [workflow.encode(i, references[i])[0] for i in range(n_gen)]
        initial_adain = [workflow.adain_vector(i, z) for i, z in enumerate(latents)]
    initial = [inferred[0]]
    for i, g in enumerate(workflow.generators):
        initial.append(stage_renderer(g, initial[i], amp)(initial_adain[i]))

    close: Callable[[], None] | None = None
    callback: ReconstructCallback | None
    if progress is True and method != "none":
        callback, close = _progress_bar(steps * n_gen if method != "none" else 0, workflow.spec.names)
    else:
        callback = progress if callable(progress) else None
    stages, adain, zs, history = [inferred[0]], [], [], []
    try:
        for i, g in enumerate(workflow.generators):
            step_cb = (lambda t, loss, i=i: callback(i, t, loss)) if callback is not None else None
            kw = dict(steps=steps, lr=lr, perceptual=perceptual, lambda_p=lambda_p, weight_decay=weights[i],
                      optimizer=optimizer, cache=cache, amp=amp, progress=step_cb)
            if method == "none":
                vec, z = initial_adain[i], latents[i]
            elif method == "adain":
                vec, hist = optimize_stage(g, stages[i], references[i], initial_adain[i], **kw)
                z = latents[i]
                history.append(hist)
            else:
                z, hist = optimize_latent_stage(g, stages[i], references[i], latents[i], **kw)
                with torch.no_grad():
                    vec = g.adain_vector(z)
                history.append(hist)
            stages.append(stage_renderer(g, stages[i], amp)(vec))
            adain.append(vec)
            zs.append(z)
    finally:
        if close is not None:
            close()
    return Reconstruction(final, inferred, initial, initial_adain, stages, adain, zs, history, method,
                          regularization)
