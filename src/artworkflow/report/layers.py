"""A workflow's stages as one layered file that an editor opens (OpenRaster ``.ora``: Krita, GIMP,
MyPaint; Photoshop ``.psd``), so that an artist can go on working on any stage at full size.

The layer stack, bottom first, shows exactly the final stage:

- the first colour stage as a Normal layer;
- each later ``region`` stage (flat colour) as a Normal layer, and each later ``smooth`` stage as the
  change it makes over what lies below: a Multiply layer ``"<stage> (shadow)"`` and above it a Screen
  layer ``"<stage> (light)"``. With ``b`` below and ``t`` the stage, per channel
  ``t = 1 - (1 - b*m)(1 - s)``: where ``t <= b``, ``m = t/b`` and ``s = 0``; where ``t > b``,
  ``m = 1`` and ``s = (t - b)/(1 - b)``;
- the line art (the first stage) on top as a Multiply layer, visible when the final stage carries the
  lines (``carries_lines``) and hidden when it does not;
- a hidden group ``"stage images"`` on top of all, holding every stage's full image as a hidden layer
  ``"<stage> (full image)"``.

Layers hold 8 bits per channel, so every layer is computed from the rounded layers below it: the
Multiply layer is rounded up and the Screen layer is computed from it, which keeps the composite within
1/255 of the final stage before an editor's own rounding."""
from __future__ import annotations

import importlib
import importlib.util
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Sequence

import numpy as np
from PIL import Image
from torch import Tensor

from ..config import STAGE_KINDS
from ..data.images import to_pil
from ..errors import ConfigError, OutputError
from ..outputs import writing

FORMATS = {".ora": ("pyora", "pyora"), ".psd": ("psd_tools", "psd-tools")}
"""Suffix → (module, the package that installs it)."""

LINE_DARK = 0.5
"""A pixel of the line art at or below this grey is a line pixel for ``carries_lines``."""

LINE_CHANGE = 0.25
"""The largest mean change (0-1, brightest channel) that multiplying the line art over the final stage
may make on the line pixels for the final stage to count as carrying the lines: outlines drawn into the
final stage are already about as dark as the line art, colour without outlines is not."""

STAGES_GROUP = "stage images"
"""The hidden group of full stage images; the space keeps it apart from every stage name."""


@dataclass(frozen=True)
class Layer:
    """One layer: 8-bit (H, W, 3) pixels, a blend mode (``normal``, ``multiply`` or ``screen``)."""

    name: str
    pixels: np.ndarray
    mode: str = "normal"
    visible: bool = True


@dataclass(frozen=True)
class LayerStack:
    """What a layered file holds: the layers bottom first, the hidden full stage images (first stage
    first) and the composite of the visible layers, (H, W, 3) uint8."""

    layers: list[Layer]
    stages: list[Layer]
    composite: np.ndarray


def _rgb8(stage: Tensor) -> np.ndarray:
    """A (C, H, W) stage (or a batch of one) as (H, W, 3) uint8, grey repeated into the three channels."""
    image = stage[0] if stage.dim() == 4 else stage
    return np.asarray(to_pil(image).convert("RGB"))


def _unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def carries_lines(line: np.ndarray, final: np.ndarray) -> bool:
    """Whether the final stage shows the line art's outlines, from the images alone: on the line
    pixels (``LINE_DARK``), multiplying the line art over the final stage changes its brightest channel
    by less than ``LINE_CHANGE`` on average. Line art without line pixels changes nothing: carried."""
    ink = line.min(axis=-1) <= LINE_DARK * 255
    if not ink.any():
        return True
    brightest = final.max(axis=-1)[ink] / 255.0
    change = brightest * (1.0 - line.min(axis=-1)[ink] / 255.0)
    return float(change.mean()) < LINE_CHANGE


def _target(stage: np.ndarray, line: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
    """What the layers under a visible line layer ``line`` must show so that the line layer over them
    shows ``stage`` (all in [0, 1]): ``stage / line``. Under dark line pixels many values round to the
    same composite; of those, the one nearest ``fallback`` (the colour already below) is taken, so
    that the colour layers stay clean where the line covers them. No line layer: ``stage``."""
    if line is None:
        return stage
    slack = (1.0 - line) / 255.0
    safe = np.where(line > 0, line, 1.0)
    lo = np.where(line > 0, (stage - slack) / safe, 0.0)
    hi = np.where(line > 0, (stage + slack) / safe, 1.0)
    return np.clip(np.clip(fallback, lo, hi), 0.0, 1.0)


def _change(below: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8-bit Multiply and Screen layers that turn ``below`` into ``target`` (floats in [0, 1]),
    and the composite they give. The Multiply layer is rounded up, so that it never darkens past the
    target, and the Screen layer is computed from the rounded Multiply layer."""
    ratio = np.divide(target, below, out=np.ones_like(target), where=below > 0)
    multiply = np.ceil(np.clip(ratio, 0.0, 1.0) * 255.0 - 1e-6).clip(0, 255)
    darkened = below * multiply / 255.0
    lift = np.divide(target - darkened, 1.0 - darkened, out=np.zeros_like(target), where=darkened < 1)
    screen = np.round(np.clip(lift, 0.0, 1.0) * 255.0)
    shown = 1.0 - (1.0 - darkened) * (1.0 - screen / 255.0)
    return multiply.astype(np.uint8), screen.astype(np.uint8), shown


def _check_inputs(stages: Sequence[Tensor], names: Sequence[str], kinds: Sequence[str]) -> None:
    if len(stages) < 2 or not len(stages) == len(names) == len(kinds):
        raise ConfigError(f"layered file: got {len(stages)} stage images, {len(names)} names and {len(kinds)} "
                          "kinds; give the same number (at least 2) of each, first stage (line art) first")
    odd = [k for k in kinds if k not in STAGE_KINDS] + [n for n in names if not n or "/" in n]
    if odd:
        raise ConfigError(f"layered file: {odd[0]!r} is no stage kind ({', '.join(STAGE_KINDS)}) or stage name "
                          "(names are not empty and have no '/'); pass the workflow's names and kinds")
    sizes = {tuple(s.shape[-2:]) for s in stages}
    if len(sizes) != 1:
        raise ConfigError(f"layered file: the stage images differ in size ({sorted(sizes)}); render every "
                          "stage at the same size")


def build_stack(stages: Sequence[Tensor], names: Sequence[str], kinds: Sequence[str],
                lines: bool | None = None) -> LayerStack:
    """The layers of a workflow's stages (see the module's docstring); ``lines`` says whether the final
    stage carries the line art, None decides it with ``carries_lines``."""
    _check_inputs(stages, names, kinds)
    images = [_rgb8(s) for s in stages]
    line8, final8 = images[0], images[-1]
    visible = carries_lines(line8, final8) if lines is None else lines
    # A visible line layer is lightened where the final stage is lighter than the line art, so that
    # the layers below can always make up the rest.
    shown8 = np.maximum(line8, final8.max(axis=-1, keepdims=True)) if visible else line8
    line = _unit(shown8) if visible else None
    layers: list[Layer] = []
    below = None
    for name, kind, image in zip(names[1:], kinds[1:], images[1:]):
        stage, normal = _unit(image), below is None or kind == "region"
        target = _target(stage, line, stage if normal else below)
        if normal:
            flat8 = np.round(target * 255.0).astype(np.uint8)
            layers.append(Layer(name, flat8))
            below = _unit(flat8)
            continue
        multiply, screen, below = _change(below, target)
        layers += [Layer(f"{name} (shadow)", multiply, "multiply"), Layer(f"{name} (light)", screen, "screen")]
    layers.append(Layer(names[0], shown8, "multiply", visible))
    composite = below * line if visible else below
    hidden = [Layer(f"{n} (full image)", im, visible=False) for n, im in zip(names, images)]
    return LayerStack(layers, hidden, np.round(composite * 255.0).astype(np.uint8))


def _library(suffix: str, path: Path) -> ModuleType:
    """The writer's library, or one line that says how to install it."""
    module, package = FORMATS[suffix]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{path}: writing {suffix} files needs the {package} package; install it with "
                          f"pip install 'artworkflow[layers]' (or pip install {package})") from None


def layer_formats(text: str, option: str = "--layers") -> tuple[str, ...]:
    """A comma-separated list of layered formats (``ora``, ``psd``), each checked to be writable here
    before any work, so a missing library is said in one line at the start."""
    formats = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f".{f}" not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"{option} {text}: the layered formats are ora and psd; give one or both, e.g. "
                          f"{option} ora,psd")
    for f in formats:
        _library(f".{f}", Path(option))
    return formats


def layer_formats_installed() -> tuple[str, ...]:
    """The layered formats this installation can write."""
    return tuple(suffix[1:] for suffix, (module, _) in FORMATS.items() if importlib.util.find_spec(module))


def _write_ora(stack: LayerStack, out: io.BufferedWriter, pyora: ModuleType) -> None:
    """pyora writes the stack, its layer PNGs, ``mergedimage.png`` (the composite given, not pyora's
    own rendering) and the thumbnail, with an uncompressed ``mimetype`` first. It names the layer
    files with a leading slash (``/data/layer0.png``), as their ``src`` in stack.xml; Krita reads them."""
    h, w = stack.composite.shape[:2]
    project = pyora.Project.new(w, h)
    ops = {"normal": "svg:src-over", "multiply": "svg:multiply", "screen": "svg:screen"}
    for layer in stack.layers:
        project.add_layer(Image.fromarray(layer.pixels).convert("RGBA"), f"/{layer.name}",
                          composite_op=ops[layer.mode], visible=layer.visible)
    project.add_group(f"/{STAGES_GROUP}", visible=False)
    for layer in stack.stages:
        project.add_layer(Image.fromarray(layer.pixels).convert("RGBA"), f"/{STAGES_GROUP}/{layer.name}",
                          visible=False)
    project.save(out, composite_image=Image.fromarray(stack.composite))


def _write_psd(stack: LayerStack, out: io.BufferedWriter, psd_tools: ModuleType) -> None:
    """psd-tools writes the layers (each new one goes on top) and the flattened preview."""
    from psd_tools.api.layers import Group, PixelLayer
    from psd_tools.constants import BlendMode

    h, w = stack.composite.shape[:2]
    psd = psd_tools.PSDImage.new("RGB", (w, h))
    modes = {"normal": BlendMode.NORMAL, "multiply": BlendMode.MULTIPLY, "screen": BlendMode.SCREEN}
    for layer in stack.layers:
        added = PixelLayer.frompil(Image.fromarray(layer.pixels), psd, layer.name)
        added.blend_mode, added.visible = modes[layer.mode], layer.visible
    group = Group.new(parent=psd, name=STAGES_GROUP)
    group.visible = False
    for layer in stack.stages:
        PixelLayer.frompil(Image.fromarray(layer.pixels), group, layer.name).visible = False
    psd.save(out)


def _destination(path: Path, overwrite: bool) -> None:
    """Refuse a path that is a link, a folder, or a file the caller did not ask to replace."""
    if path.is_symlink():
        raise OutputError(f"{path}: is a symbolic link; layered files are never written through one; "
                          "choose another file name")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name ending in .ora or .psd")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists; pass overwrite=True to replace it, or choose another name")


def write_layers(path: str | os.PathLike, stages: Sequence[Tensor], names: Sequence[str],
                 kinds: Sequence[str], lines: bool | None = None, overwrite: bool = False) -> Path:
    """Write a workflow's stages (full size, (C, H, W) in [-1, 1], line art first) as a layered file
    whose format is the suffix's (``.ora`` or ``.psd``); see the module's docstring for the layers.
    The file is written through a temporary file in the same folder and moved into place, so a
    failure leaves no half-written file, and an existing file is replaced only with ``overwrite``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"{path}: layered files are .ora (OpenRaster) or .psd (Photoshop); name the file "
                          "with one of those suffixes")
    library = _library(suffix, path)
    _destination(path, overwrite)
    stack = build_stack(stages, names, kinds, lines)
    write = _write_ora if suffix == ".ora" else _write_psd
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            with os.fdopen(fd, "w+b") as out:
                write(stack, out, library)
                out.flush()
                os.fsync(out.fileno())
            _destination(path, overwrite)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return path
