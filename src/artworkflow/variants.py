"""The reconstruction variants of the paper's Tables 1-2, by name: what is optimised and how it is
regularised (the arguments ``method`` and ``regularization`` of ``reconstruct``). Kept free of
heavy imports so that the command line can offer the names without loading torch."""
from __future__ import annotations

VARIANTS: dict[str, tuple[str, str | float]] = {
    "none": ("none", "none"),
    "z": ("z", "none"),
    "adain": ("adain", "none"),
    "adain_w1e-3": ("adain", 1e-3),
    "adain_w1e-2": ("adain", 1e-2),
    "adain_lr": ("adain", "learned"),
}
