"""Weight initialisation of the published implementation: every convolution and linear weight drawn
from a Xavier normal with gain 0.02, biases zero, the decoder's layer-norm scales uniform in [0, 1).

The small gain matters beyond taste: Adam moves every weight by about lr per step whatever its size,
so weights that start near zero change quickly relative to their scale. With PyTorch's default
initialisation the z → AdaIN mapping starts large and learns slowly relative to its size, and on small
data the first generation stage settles into ignoring its latent (every encoded mu alike, every
random z the same output) before the mapping has learnt to vary."""
from __future__ import annotations

from torch import nn

from .norm import LayerNorm

XAVIER_GAIN = 0.02


def init_weights(module: nn.Module, kind: str = "xavier", gain: float = XAVIER_GAIN) -> nn.Module:
    """Re-initialise ``module`` in place (``kind="torch"`` keeps PyTorch's defaults); returns it."""
    if kind == "torch":
        return module
    if kind != "xavier":
        raise ValueError(f"unknown initialisation '{kind}'; use xavier or torch")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, LayerNorm):
            nn.init.uniform_(m.gamma, 0.0, 1.0)
            nn.init.zeros_(m.beta)
    return module
