"""What ships inside the package so that demos and tests need no download: a small real dataset
and a trained demo model."""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SAMPLE_NAME = "fluent-sample"
DEMO_MODEL = ASSETS / "demo-model"
FULL_SIZE_SAMPLE = ASSETS / "fluent-fullsize"
"""Three test items of the sample at 256 px, one folder per stage, for showing work at full size."""


def full_size_image(stage: str, item: str) -> Path | None:
    """The bundled 256 px image of ``item`` at ``stage``, or None when the package has none."""
    path = FULL_SIZE_SAMPLE / stage / f"{item}.png"
    return path if path.is_file() else None


def bundled_sample_path() -> Path:
    """Folder of the bundled Fluent Emoji sample (100 emoji, line -> flat -> shaded, 64 px)."""
    return ASSETS / SAMPLE_NAME
