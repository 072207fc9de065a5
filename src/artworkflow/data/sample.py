"""The small real dataset shipped inside the package, so tests and demos need no download."""
from __future__ import annotations

from pathlib import Path

SAMPLE_NAME = "fluent-sample"


def bundled_sample_path() -> Path:
    """Folder of the bundled Fluent Emoji sample (100 emoji, line -> flat -> shaded, 64 px)."""
    return Path(__file__).resolve().parent.parent / "assets" / SAMPLE_NAME
