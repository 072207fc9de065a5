"""What ships inside the package so that demos and tests need no download: a small real dataset
and a trained demo model."""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SAMPLE_NAME = "fluent-sample"
DEMO_MODEL = ASSETS / "demo-model"


def bundled_sample_path() -> Path:
    """Folder of the bundled Fluent Emoji sample (100 emoji, line -> flat -> shaded, 64 px)."""
    return ASSETS / SAMPLE_NAME
