"""A procedural cartoon-face workflow dataset: small enough to train on a CPU in minutes, yet with the
structure the model needs. Every later stage adds random choices (region colours, light direction,
light colour) so generation is multi-modal, and every earlier stage can be read off a later one (the
sketch is the ink outline of the flat regions, the flat image is the shaded one without shading)."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ..config import StageSpec, WorkflowSpec, default_kinds
from ..errors import ConfigError, DatasetError
from ..outputs import writing
from .images import save_image
from .layout import stage_dir, write_spec

STAGE_NAMES = ("sketch", "flat", "shaded", "lit")

BACKGROUNDS = ((250, 224, 200), (200, 230, 250), (215, 245, 210), (245, 215, 240), (255, 245, 190),
               (225, 220, 250), (235, 235, 235), (190, 225, 225))
SKINS = ((255, 224, 196), (241, 194, 158), (224, 172, 128), (198, 134, 92), (141, 85, 54), (255, 205, 180),
         (170, 220, 170), (190, 200, 255))
HAIRS = ((40, 30, 30), (110, 65, 35), (230, 200, 110), (190, 70, 40), (240, 130, 180), (70, 110, 220),
         (90, 180, 110), (140, 80, 190), (235, 235, 240))
SHIRTS = ((220, 60, 60), (60, 120, 220), (60, 170, 90), (240, 190, 60), (150, 80, 200), (240, 140, 60),
          (70, 70, 80), (240, 240, 240))
IRISES = ((60, 110, 200), (90, 60, 40), (60, 150, 80), (150, 80, 170), (40, 40, 50), (200, 120, 40))
MOUTHS = ((200, 60, 70), (230, 110, 120), (150, 40, 50))
LIGHTS = ((1.0, 0.72, 0.42), (0.45, 0.65, 1.0), (1.0, 0.45, 0.85), (0.5, 1.0, 0.55), (0.72, 0.5, 1.0))
EYE_WHITE = (250, 250, 250)
INK = np.array([35, 30, 40], dtype=np.float32) / 255.0
_SPLIT_CODES = {"train": 0, "test": 1}


@dataclass(frozen=True)
class Region:
    """One flat-colour area: its pixels, colour, the ellipse its shading treats as a dome, and gloss."""

    mask: np.ndarray
    colour: tuple[int, int, int]
    dome: tuple[float, float, float, float] | None
    shine: float


def toy_spec(stages: int = 3) -> WorkflowSpec:
    """The workflow of the toy dataset: a grey sketch followed by 1 to 3 colour stages."""
    if not 2 <= stages <= len(STAGE_NAMES):
        raise ConfigError(f"the toy dataset has 2 to {len(STAGE_NAMES)} stages, got {stages}")
    return WorkflowSpec(f"toy-faces-{stages}",
                        tuple(StageSpec(n, 1 if n == "sketch" else 3, kind)
                              for n, kind in zip(STAGE_NAMES[:stages], default_kinds(stages))))


def _ellipse(x: np.ndarray, y: np.ndarray, e: tuple[float, float, float, float]) -> np.ndarray:
    cx, cy, a, b = e
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0


def _pick(rng: np.random.Generator, palette: tuple) -> tuple[int, int, int]:
    return palette[int(rng.integers(len(palette)))]


class _Palette:
    """The flat stage's random choices: one colour per role, drawn once from its own stream so that
    the sketch (geometry) stays fixed when only the colours are drawn again."""

    def __init__(self, rng: np.random.Generator):
        self.colours = {name: _pick(rng, palette) for name, palette in (
            ("background", BACKGROUNDS), ("skin", SKINS), ("hair", HAIRS), ("shirt", SHIRTS), ("iris", IRISES),
            ("mouth", MOUTHS))}

    def __getitem__(self, role: str) -> tuple[int, int, int]:
        return self.colours[role]


def _face_regions(rng: np.random.Generator, colours: _Palette, x: np.ndarray, y: np.ndarray) -> list[Region]:
    """Regions in painting order (later ones cover earlier ones); coordinates are in [0,1]. ``rng``
    draws the geometry (the sketch), ``colours`` holds the flat stage's choices."""
    u = rng.uniform
    cx, cy = 0.5 + u(-0.06, 0.06), 0.48 + u(-0.04, 0.04)
    a = u(0.2, 0.25)
    b = a * u(1.05, 1.2)
    head = (cx, cy, a, b)
    skin, hair = colours["skin"], colours["hair"]
    style = int(rng.integers(3))
    full = np.ones_like(x, dtype=bool)
    regions = [Region(full, colours["background"], None, 0.0)]
    if style == 1:
        back = (cx, cy + b * 0.1, a * 1.25, b * 1.1)
        regions.append(Region(_ellipse(x, y, back) & (y < cy + b * u(0.3, 0.9)), hair, back, 0.5))
    body = (cx + u(-0.03, 0.03), 1.0 + u(0.0, 0.08), u(0.3, 0.4), u(0.22, 0.3))
    regions.append(Region(_ellipse(x, y, body), colours["shirt"], body, 0.15))
    neck = (cx, cy + b * 0.95, a * 0.32, b * 0.35)
    regions.append(Region(_ellipse(x, y, neck), skin, neck, 0.1))
    if style == 2:
        bun = (cx, cy - b * 1.12, a * 0.42, a * 0.42)
        regions.append(Region(_ellipse(x, y, bun), hair, bun, 0.5))
    regions.append(Region(_ellipse(x, y, head), skin, head, 0.25))
    cap = (cx, cy - b * 0.35, a * 1.07, b * 0.75)
    fringe = cy - b * u(0.2, 0.4) + u(-0.3, 0.3) * (x - cx)
    regions.append(Region(_ellipse(x, y, cap) & (y < fringe), hair, cap, 0.5))
    dx, ey = a * u(0.33, 0.45), cy + b * u(0.0, 0.12)
    ea = a * u(0.15, 0.2)
    eb = ea * u(1.0, 1.35)
    gaze_x, gaze_y, iris_r = ea * u(-0.35, 0.35), eb * u(-0.3, 0.3), ea * u(0.5, 0.7)
    iris = colours["iris"]
    eyes = [(cx + side * dx, ey, ea, eb) for side in (-1.0, 1.0)]
    for eye in eyes:
        regions.append(Region(_ellipse(x, y, eye), EYE_WHITE, eye, 0.8))
    for eye in eyes:
        ball = (eye[0] + gaze_x, eye[1] + gaze_y, iris_r, iris_r)
        regions.append(Region(_ellipse(x, y, ball) & _ellipse(x, y, eye), iris, ball, 0.9))
    mouth_a = a * u(0.2, 0.35)
    mouth = (cx + u(-0.02, 0.02), cy + b * u(0.5, 0.62), mouth_a, mouth_a * u(0.3, 0.6))
    open_mouth = _ellipse(x, y, mouth)
    shape = open_mouth if rng.random() < 0.4 else open_mouth & (y >= mouth[1])
    regions.append(Region(shape, colours["mouth"], mouth, 0.4))
    return regions


def _paint(regions: list[Region]) -> np.ndarray:
    label = np.zeros(regions[0].mask.shape, dtype=np.int16)
    for i, r in enumerate(regions):
        label[r.mask] = i
    return label


def _ink(label: np.ndarray, radius: int) -> np.ndarray:
    """Outline of every region boundary, thickened to a pen width; image borders are not outlined."""
    edge = np.zeros(label.shape, dtype=bool)
    dx = label[:, 1:] != label[:, :-1]
    dy = label[1:, :] != label[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    if radius > 0:
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        edge = ndimage.binary_dilation(edge, structure=xx ** 2 + yy ** 2 <= radius ** 2 + radius)
    return edge.astype(np.float32)


def _light(rng: np.random.Generator) -> np.ndarray:
    angle, elevation = rng.uniform(0.0, 2 * np.pi), rng.uniform(0.45, 0.9)
    return np.array([np.cos(angle) * np.cos(elevation), np.sin(angle) * np.cos(elevation), np.sin(elevation)],
                    dtype=np.float32)


def _dome_shading(x: np.ndarray, y: np.ndarray, domes: np.ndarray, light: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse and specular terms of ellipses seen as hemispheres lit from ``light``; ``domes`` holds
    per-pixel (cx, cy, a, b) in its last axis."""
    u = (x - domes[..., 0]) / domes[..., 2]
    v = (y - domes[..., 1]) / domes[..., 3]
    r = np.maximum(np.sqrt(u * u + v * v), 1.0)
    u, v = u / r, v / r
    z = np.sqrt(np.clip(1.0 - u * u - v * v, 0.0, 1.0))
    diffuse = np.clip(u * light[0] + v * light[1] + z * light[2], 0.0, 1.0)
    half = light + np.array([0.0, 0.0, 1.0], dtype=np.float32)
    half = half / np.linalg.norm(half)
    specular = np.clip(u * half[0] + v * half[1] + z * half[2], 0.0, 1.0) ** 24
    return diffuse, specular


def _shade(regions: list[Region], label: np.ndarray, flat: np.ndarray, x: np.ndarray, y: np.ndarray,
           light: np.ndarray) -> np.ndarray:
    """Flat colours times a per-region dome shading, plus highlights and the figure's shadow on the wall."""
    domes = np.array([r.dome or (0.5, 0.5, 1.0, 1.0) for r in regions], dtype=np.float32)
    shine = np.array([r.shine for r in regions], dtype=np.float32)
    diffuse, specular = _dome_shading(x, y, domes[label], light)
    lit = flat * (0.45 + 0.65 * diffuse)[..., None]
    figure_shade = lit + (shine[label] * specular)[..., None] * (1.0 - lit)
    n = label.shape[0]
    ramp = np.clip(0.5 + (x - 0.5) * light[0] + (y - 0.5) * light[1], 0.0, 1.0)
    shift_x, shift_y = (int(round(float(light[k]) * 0.06 * n)) for k in (0, 1))
    figure = np.pad(label != 0, n)[n + shift_y:2 * n + shift_y, n + shift_x:2 * n + shift_x]
    wall_shade = (0.8 + 0.25 * ramp) * np.where(figure, np.float32(0.72), np.float32(1.0))
    out = np.where((label == 0)[..., None], flat * wall_shade[..., None], figure_shade)
    return np.clip(out, 0.0, 1.0)


def _tint(rng: np.random.Generator, image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coloured light from a random point outside the frame, fading with distance."""
    colour = np.array(LIGHTS[int(rng.integers(len(LIGHTS)))], dtype=np.float32)
    angle, strength = rng.uniform(0.0, 2 * np.pi), rng.uniform(0.4, 0.7)
    sx, sy = 0.5 + 0.7 * float(np.cos(angle)), 0.5 + 0.7 * float(np.sin(angle))
    glow = np.clip(1.0 - np.sqrt((x - sx) ** 2 + (y - sy) ** 2) / 1.2, 0.0, 1.0)[..., None]
    factor = (0.75 + 0.25 * glow) * ((1.0 - strength * glow) + strength * glow * 1.5 * colour)
    return np.clip(image * factor, 0.0, 1.0)


def _downsample(a: np.ndarray, factor: int) -> np.ndarray:
    """Box filter by summing strided slices, much faster in numpy than a reshape-and-mean."""
    rows = sum(a[i::factor] for i in range(factor))
    return sum(rows[:, j::factor] for j in range(factor)) / (factor * factor)


def _to_image(a: np.ndarray) -> Image.Image:
    pixels = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")


@functools.lru_cache(maxsize=4)
def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(n, dtype=np.float32) + 0.5) / n
    x, y = np.meshgrid(coords, coords)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _stage_rng(seed: int, split: str, index: int, stage: int, variant: int) -> np.random.Generator:
    """The random stream of one stage's choices (stage 0: geometry, 1: colours, 2: light, 3: tint)."""
    return np.random.default_rng([seed, _SPLIT_CODES.get(split, 2), index, stage, variant])


def render_item(seed: int, index: int, size: int = 64, stages: int = 3, split: str = "train",
                variants: dict[int, int] | None = None) -> list[Image.Image]:
    """The stage images of one toy item, drawn supersampled and box-filtered for smooth edges.

    Every stage draws its random choices from its own stream, so ``variants={k: v}`` (v >= 1) renders
    a true alternative of stage k: the same earlier stages, other choices at stage k (later stages
    follow from them)."""
    toy_spec(stages)
    variants = variants or {}
    rng = [_stage_rng(seed, split, index, k, variants.get(k, 0)) for k in range(4)]
    factor = 3 if size <= 256 else 2
    x, y = _grid(size * factor)
    regions = _face_regions(rng[0], _Palette(rng[1]), x, y)
    label = _paint(regions)
    ink = _ink(label, radius=max(0, round((max(1.0, size / 64 * 1.1) * factor - 2) / 2)))[..., None]
    palette = np.array([r.colour for r in regions], dtype=np.float32) / 255.0
    flat = palette[label]
    out = [_downsample(1.0 - 0.9 * ink[..., 0], factor), _downsample(flat * (1 - ink) + INK * ink, factor)]
    if stages >= 3:
        shaded = _shade(regions, label, flat, x, y, _light(rng[2])) * (1 - ink) + INK * ink
        out.append(_downsample(shaded, factor))
        if stages >= 4:
            out.append(_downsample(_tint(rng[3], shaded, x, y), factor))
    return [_to_image(a) for a in out]


def render_alternatives(seed: int, index: int, stage: int, k: int, size: int = 64, stages: int = 3,
                        split: str = "test") -> list[Image.Image]:
    """K true alternatives of image stage ``stage`` (>= 1) of one item: variant 0 is the item itself,
    the others redraw only that stage's random choices."""
    if not 1 <= stage < stages:
        raise ConfigError(f"stage {stage} has no random choices of its own; pick 1..{stages - 1}")
    return [render_item(seed, index, size, stages, split, {stage: v})[stage] for v in range(k)]


ALTERNATIVES_DIR = "alternatives"


def write_alternatives(out: str | os.PathLike, k: int, stages: int = 3, size: int = 64, test_count: int = 8,
                       seed: int = 0) -> Path:
    """``alternatives/<stage>/<id>/<v>.png``: for every test item and every stage after the first, K
    renders of that stage that differ only in its own random choices (the truth a model's variations
    are compared with)."""
    if k < 2:
        raise ConfigError(f"alternatives must be at least 2 to have a spread, got {k}")
    spec = toy_spec(stages)
    root = Path(out) / ALTERNATIVES_DIR
    width = max(5, len(str(test_count - 1)))
    for stage in range(1, stages):
        for index in range(test_count):
            for v, img in enumerate(render_alternatives(seed, index, stage, k, size, stages)):
                save_image(img, root / spec.names[stage] / f"{index:0{width}d}" / f"{v}.png")
    return root


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder; choose another output path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"{out}: folder is not empty; choose an empty or new folder, or pass --overwrite "
                           "(overwrite=True in Python) to replace the generator's own files (other files are kept)")


def make_toy_dataset(out: str | os.PathLike, stages: int = 3, size: int = 64, count: int = 200,
                     test_count: int | None = None, seed: int = 0, overwrite: bool = False,
                     alternatives: int = 0) -> Path:
    """Write a toy dataset in the standard layout; the same arguments always give the same bytes.
    With ``overwrite`` only files this generator names are replaced; nothing is deleted.
    ``alternatives`` K >= 2 also writes K true alternatives of every later stage of every test item."""
    spec = toy_spec(stages)
    if size < 16:
        raise ConfigError(f"toy image size must be at least 16 px, got {size}")
    if count < 1:
        raise ConfigError(f"count must be at least 1, got {count}")
    test_count = max(8, count // 10) if test_count is None else test_count
    if test_count < 0:
        raise ConfigError(f"test_count must not be negative, got {test_count}")
    out = Path(out)
    _check_target(out, overwrite)
    width = max(5, len(str(max(count, test_count) - 1)))
    with writing(out):
        for split, n in (("train", count), ("test", test_count)):
            for index in range(n):
                images = render_item(seed, index, size, stages, split)
                for stage, img in zip(spec.names, images):
                    save_image(img, stage_dir(out, split, stage) / f"{index:0{width}d}.png")
        if alternatives:
            write_alternatives(out, alternatives, stages, size, test_count, seed)
        write_spec(out, spec)
    return out
