"""Reflect padding that keeps the autocast dtype."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReflectionPad(nn.ReflectionPad2d):
    """Reflect padding in the input's dtype. CPU autocast lists reflection padding as a float32 op, so
    under bf16 every padded activation would be upcast and then cast back by the next convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.pad(x, self.padding, mode="reflect")
