"""Loss terms as plain functions of tensors. Discriminator outputs are lists (one per scale)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_d(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Hinge loss of a (multi-scale) discriminator: mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake))


def hinge_g(fake: list[torch.Tensor]) -> torch.Tensor:
    """Generator side of the hinge loss: -mean(D(fake)), summed over scales."""
    return sum(-f.mean() for f in fake)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) summed over every element, as the published code does;
    under data parallelism the caller multiplies by the world size to keep the global sum."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()


def latent_regression(mu: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """|E(G(x, z)).mu - z|: the random latent must be recoverable from the generated image."""
    return (mu - z).abs().mean()


def mode_seeking(a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor,
                 eps: float = 1e-5) -> torch.Tensor:
    """Mode-seeking term (MSGAN), as the published code computes it over the whole (half-)batch:
    1 / (mean|a - b| / mean|za - zb| + eps). Small when outputs change as much as their latents.
    Under data parallelism each process takes the means over its own share of the batch."""
    return 1.0 / ((a - b).abs().mean() / (za - zb).abs().mean() + eps)
