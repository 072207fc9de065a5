"""The perceptual term of the AdaIN-optimisation loss: VGG16 features (λp = 10 on the layers of
``nn.vgg.DEFAULT_LAYERS``, as in the paper) or none at all, for machines without the ImageNet weights."""
from __future__ import annotations

import os
import sys
from typing import Callable

import torch

from ..errors import ConfigError, WeightsNotFoundError
from ..nn.vgg import VGG16_ENV, VGG16_URL, PerceptualLoss, VGG16Features, load_vgg16

PERCEPTUAL_CHOICES = ("vgg16", "none")
LAMBDA_P = 10.0


def load_perceptual(kind: str = "vgg16", weights: str | os.PathLike | None = None,
                    device: str | torch.device = "cpu") -> PerceptualLoss | None:
    """The perceptual loss for ``kind`` with per-sample reduction (each image of a batch is its own
    optimisation problem); ``None`` for ``"none"``. Raises ``WeightsNotFoundError`` when the VGG16
    weights are not at ``weights``, ``$ARTWORKFLOW_VGG16`` or the torch hub cache."""
    if kind == "none":
        return None
    if kind != "vgg16":
        raise ConfigError(f"unknown perceptual loss '{kind}'; choose one of {', '.join(PERCEPTUAL_CHOICES)}")
    vgg = load_vgg16(weights)
    return PerceptualLoss(vgg.to(device), reduction="none")


def random_perceptual(seed: int = 0, device: str | torch.device = "cpu") -> PerceptualLoss:
    """A randomly initialised VGG16 loss: same cost as the real one, for tests and timing only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vgg = VGG16Features()
    return PerceptualLoss(vgg.to(device), reduction="none")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def default_perceptual(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                       notice: Callable[[str], None] | None = None) -> PerceptualLoss | None:
    """VGG16 when its weights can be found, otherwise one notice line and no perceptual term, so
    editing still works (with a pixel-only loss) on a machine that has never downloaded VGG16. An
    explicit path or ``$ARTWORKFLOW_VGG16`` that points nowhere stays an error: that is a typo."""
    if weights is not None or os.environ.get(VGG16_ENV):
        return load_perceptual("vgg16", weights, device)
    try:
        return load_perceptual("vgg16", weights, device)
    except WeightsNotFoundError:
        (notice or _stderr)(f"note: VGG16 weights not found, optimising without the perceptual term; to use "
                            f"it, download {VGG16_URL} and set {VGG16_ENV}=/path/to/file (or pass --vgg-weights)")
        return None
