"""The baseline of Table 1 ("z"): Algorithm 1 applied to the latent z that the MLP maps to the AdaIN
vector instead of to the vector itself. Its few dimensions limit how close it can get."""
from __future__ import annotations

from torch import Tensor

from ..errors import ConfigError
from ..nn.generator import AdaINGenerator
from ..nn.vgg import PerceptualLoss
from .adain_opt import StepCallback, check_vector, descend, stage_objective
from .perceptual import LAMBDA_P


def optimize_latent_stage(generator: AdaINGenerator, x_in: Tensor, reference: Tensor, start_z: Tensor, *,
                          steps: int = 150, lr: float = 0.1, perceptual: PerceptualLoss | None = None,
                          lambda_p: float = LAMBDA_P, weight_decay: float | None = None,
                          optimizer: str = "adam", cache: bool = True, amp: str = "none",
                          mapping: AdaINGenerator | None = None,
                          progress: StepCallback | None = None) -> tuple[Tensor, Tensor]:
    """The same optimisation as ``optimize_stage``, of z; returns ``(z, history)``. ``mapping`` is
    the generator whose MLP maps z (default: ``generator``): an edit's frozen bf16 copy decodes,
    while the workflow's own float32 generator maps."""
    check_vector("start_z", start_z, x_in.shape[0], generator.nz)
    if isinstance(weight_decay, Tensor):
        raise ConfigError("the learned regulariser weighs AdaIN values; use a float weight decay for z")
    start = start_z.detach()
    mapping = generator if mapping is None else mapping
    objective = stage_objective(generator, x_in, reference, perceptual=perceptual, lambda_p=lambda_p,
                                cache=cache, amp=amp)
    delta, history = descend(objective, lambda d: mapping.adain_vector(start + d), start, steps, lr,
                             weight_decay, optimizer, progress)
    return start + delta, history
