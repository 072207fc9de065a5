"""What one browser session of the app holds, and every operation on it, without Gradio: the
stage-by-stage creation path, the edit session of one artwork, and the checks every uploaded or
drawn image passes before it reaches the model. Keeping this free of UI code is what lets it be
tested directly and lets the UI stay a thin layer of event wiring."""
from __future__ import annotations

import io
import math
import os
import struct
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from ..data.images import MAX_SIDE, load_image, save_image, to_pil
from ..data.sample import DEMO_MODEL, bundled_sample_path
from ..report.layers import layer_formats_installed, write_layers
from ..report.workflow_files import write_gif, write_strip
from ..editing.regularization import auto_summary
from ..editing.session import EditSession
from ..errors import CheckpointError, ConfigError, ImageError
from ..fullsize.canvas import limit_size
from ..nn.vgg import PerceptualLoss
from ..pipeline import WorkflowPipeline
from ..workflow import CONFIG_FILE, WEIGHTS_FILE

PACKAGE = Path(__file__).resolve().parent.parent
SAMPLE_DATA = bundled_sample_path()

APP_MAX_SIZE = 1024
"""The longest side of the images the app shows, draws on and hands out: larger uploads are shrunk."""
DEFAULT_VARIATIONS = 4
MAX_VARIATIONS = 8
DEFAULT_STEPS = 50
MAX_STEPS = 1000
MAX_SEED = 2**53 - 1
"""The largest whole number a browser's JavaScript holds exactly."""
MAX_SIDE_LIMIT = 8192
"""The largest ``--max-side``: its square stays under Pillow's decompression-bomb limit (89 M px)."""
MAX_FILE_SIZE_LIMIT = 2**30
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP")
"""The only formats Pillow is allowed to open for an upload (``Image.open(formats=...)``)."""

VARIATIONS_LABEL = "variations per stage"
SEED_LABEL = "seed"
PICK_LABEL = "chosen variation"
MODE_LABEL = "reconstruction"
STEPS_LABEL = "optimisation steps per stage"
STAGE_LABEL = "stage to change"
"""Labels of the controls; a value outside a control's range is refused with the control's label,
so a message about a value sent through the API names what it would be called in the page."""

EDIT_MODES: dict[str, tuple[str, str]] = {
    "none": ("none", "none"),
    "adain": ("adain", "none"),
    "adain+learned": ("adain", "learned"),
    "auto": ("adain", "auto"),
}
"""Reconstruction choices of the Edit tab as (method, regularization) of ``EditSession.from_artwork``:
the encoders' guess only, AdaIN optimisation (paper §3.2), AdaIN optimisation with the learned
regulariser that keeps the vectors editable, or (the default) the learned regulariser of each stage
whose regulariser was trained and w = 0 for the others."""
DEFAULT_EDIT_MODE = "auto"

ProgressCallback = Callable[[float, str], None]
"""Receives (fraction done in [0, 1], one line saying what is running)."""


def default_model_path() -> Path:
    """The demo model shipped inside the package, so that `artworkflow app` works out of the box."""
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (DEMO_MODEL / name).is_file()]
    if missing:
        raise CheckpointError(
            f"no demo model at {DEMO_MODEL} (missing {', '.join(missing)}); start the app on a trained model "
            "with `artworkflow app --model RUN_OR_MODEL_DIR` (e.g. `make demo`, then --model runs/demo/run), or "
            "save one there with Workflow.save_pretrained")
    return DEMO_MODEL


def bundled_examples(names: list[str], count: int = 4) -> tuple[list[Path], list[Path]]:
    """First-stage and finished example images from the bundled sample data, when the model's stages
    are the sample's stages (as for the demo model); otherwise none, since examples from another
    workflow would only confuse."""
    import yaml

    try:
        spec = yaml.safe_load((SAMPLE_DATA / "workflow.yaml").read_text()) or {}
        sample_names = [s["name"] for s in spec.get("stages", [])]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return [], []
    if sample_names != list(names):
        return [], []
    first = sorted((SAMPLE_DATA / "test" / names[0]).glob("*.png"))[:count]
    final = sorted((SAMPLE_DATA / "test" / names[-1]).glob("*.png"))[:count]
    return first, final


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def whole_number(value: object, name: str, lo: int, hi: int | None = None) -> int:
    """``value`` (an int, a whole float or a decimal string) as an int in [lo, hi]; anything else
    is a one-line ``ConfigError`` that names the control or option and its range."""
    number = _integer(value)
    if number is None or number < lo or (hi is not None and number > hi):
        allowed = f"between {lo} and {hi}" if hi is not None else f"of at least {lo}"
        raise ConfigError(f"{name} must be a whole number {allowed}, got {value!r}")
    return number


def one_of(value: object, name: str, choices: Sequence) -> object:
    """The choice equal to ``value`` (a whole float matches an int choice, as JSON numbers arrive),
    otherwise a ``ConfigError`` that names the control and lists the choices."""
    for choice in choices:
        if not isinstance(value, bool) and type(value) in (type(choice), float) and value == choice:
            return choice
    listed = ", ".join(repr(c) for c in choices)
    raise ConfigError(f"{name} must be one of {listed}, got {value!r}")


@dataclass(frozen=True)
class UploadLimits:
    """What an uploaded file may be, checked from its header before any pixel is decoded."""

    max_side: int = MAX_SIDE
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_side", whole_number(self.max_side, "--max-side", 1, MAX_SIDE_LIMIT))
        if self.max_bytes is not None:
            object.__setattr__(self, "max_bytes", whole_number(self.max_bytes, "--max-file-size (bytes)", 1,
                                                               MAX_FILE_SIZE_LIMIT))


def size_text(n: int) -> str:
    """A byte count as people write it: 10 MB, 512 KB."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def _refusal(text: str) -> ImageError:
    return ImageError(f"the uploaded image: {text}")


def _file_size(source: str | os.PathLike | bytes) -> int:
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    try:
        return Path(source).stat().st_size
    except FileNotFoundError:
        raise _refusal("the file is gone from the server; upload it again") from None
    except OSError as e:
        raise _refusal(f"cannot be read ({e.strerror or e.__class__.__name__}); upload it again") from None


_OPEN_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


def _header(source: str | os.PathLike | bytes) -> tuple[int, int, bool]:
    """(width, height, over Pillow's pixel limit) from the header; Pillow opens lazily, so this reads
    no pixel data, and only the upload formats are tried."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
            with Image.open(fp, formats=UPLOAD_FORMATS) as img:
                w, h = img.size
    except Image.DecompressionBombError:
        raise _refusal("it declares more pixels than can be decoded safely (a possible decompression bomb); "
                       "downscale it") from None
    except UnidentifiedImageError:
        raise _refusal("not a PNG, JPEG or WebP image; save it as one of those") from None
    except _OPEN_ERRORS as e:
        detail = " ".join(str(e).split()) or e.__class__.__name__
        raise _refusal(f"cannot be read as an image ({detail}); save it as PNG, JPEG or WebP") from None
    bomb = any(issubclass(warning.category, Image.DecompressionBombWarning) for warning in caught)
    return w, h, bomb


def check_upload(source: str | os.PathLike | bytes, max_side: int = MAX_SIDE,
                 max_bytes: int | None = None) -> tuple[int, int]:
    """(height, width) of an uploaded file or blob, or an ``ImageError`` from what its header
    declares (file size, format, side, pixel count) before anything decodes it. Messages name "the
    uploaded image", not the server's temporary path, which means nothing in the browser."""
    n = _file_size(source)
    if n == 0:
        raise _refusal("the file is empty (0 bytes); upload the image again")
    if max_bytes is not None and n > max_bytes:
        raise _refusal(f"the file is {size_text(n)}; the app accepts files up to {size_text(max_bytes)}")
    w, h, bomb = _header(source)
    if max(w, h) > max_side:
        raise _refusal(f"the image is {w}×{h} px; the app accepts at most {max_side} px per side, so "
                       "downscale it first (the model works at a much smaller size anyway)")
    if bomb:
        raise _refusal(f"it declares {w}×{h} px, more than can be decoded safely; downscale it")
    return h, w


def _decode_upload(path: Path, channels: int, max_side: int) -> Tensor:
    try:
        return load_image(path, channels, max_side=max_side)
    except ImageError as e:
        raise ImageError(str(e).replace(str(path), "the uploaded image")) from None


def read_upload(source: str | os.PathLike | bytes, channels: int, max_side: int = MAX_SIDE,
                max_bytes: int | None = None) -> Tensor:
    """An uploaded or drawn image (a file, or the bytes of a drawing the page sent) as (C, H, W) in
    [-1, 1], decoded only once ``check_upload`` has passed its header."""
    check_upload(source, max_side, max_bytes)
    if not isinstance(source, (bytes, bytearray)):
        return _decode_upload(Path(source), channels, max_side)
    with tempfile.NamedTemporaryFile(prefix="artworkflow-drawing-") as f:
        f.write(source)
        f.flush()
        return _decode_upload(Path(f.name), channels, max_side)


def is_blank(image: Tensor, tolerance: float = 0.02) -> bool:
    """True for plain white paper, e.g. a canvas nobody has drawn on yet (images in [-1, 1])."""
    return bool((image >= 1 - tolerance).all())


def display(image: Tensor) -> Image.Image:
    """A (1, C, H, W) or (C, H, W) stage tensor as a PIL image at its own size."""
    return to_pil(image[0] if image.dim() == 4 else image)


def at_app_size(image: Tensor) -> Tensor:
    """An image as the app works with it at full size: at most ``APP_MAX_SIZE`` on its longest side."""
    return limit_size(image, APP_MAX_SIZE)


@dataclass(frozen=True)
class Downloads:
    """Files a user can take away: the finished image, all stages side by side, an animation, and the
    layered files (OpenRaster, Photoshop) an editor opens with one layer per stage."""

    final: Path
    strip: Path
    gif: Path
    layers: tuple[Path, ...] = ()

    def paths(self) -> list[str]:
        return [str(self.final), str(self.strip), str(self.gif), *map(str, self.layers)]


def write_downloads(stages: list[Tensor], folder: str | os.PathLike, prefix: str,
                    names: Sequence[str], kinds: Sequence[str]) -> Downloads:
    """Write the downloads of one workflow (stage tensors, (C, H, W) or (1, C, H, W) each): PNG, PNG,
    GIF, and the layered files whose library is installed."""
    folder = Path(folder)
    final = save_image(stages[-1][0] if stages[-1].dim() == 4 else stages[-1], folder / f"{prefix}-final.png")
    strip = write_strip(stages, folder / f"{prefix}-workflow.png")
    gif = write_gif(stages, folder / f"{prefix}-workflow.gif")
    images = [s[0] if s.dim() == 4 else s for s in stages]
    layers = tuple(write_layers(folder / f"{prefix}-layers.{f}", images, names, kinds, overwrite=True)
                   for f in layer_formats_installed())
    return Downloads(final, strip, gif, layers)


BORROWED = "from the reference"
"""How the page names a variation drawn with a reference artwork's latent."""


@dataclass(frozen=True)
class Step:
    """One stage of a created workflow: its image, the latent that drew it and that latent's seed
    (both None for the first stage, which the user provides; the seed None for a borrowed latent)."""

    name: str
    image: Tensor
    seed: int | None
    latent: Tensor | None = None

    @property
    def origin(self) -> str:
        """Where the stage came from, as the page says it."""
        if self.latent is None:
            return "yours"
        return BORROWED if self.seed is None else f"seed {self.seed}"


class CreatePath:
    """Creating artwork by following the workflow forward (paper Fig. 1): from a first-stage image,
    offer K variations of the next stage, keep the one picked, and repeat until the last stage.

    Variation ``v`` of a roll with seed ``s`` uses seed ``s + v``; seed ``S`` at generation stage
    ``j`` means the latent ``WorkflowPipeline.latents(1, S)[j]``, so picking the same seed at every
    stage reproduces ``pipeline.sample(first, seed=S)``."""

    def __init__(self, pipeline: WorkflowPipeline, first: Tensor):
        self.pipeline = pipeline
        self.first = at_app_size(first[0] if first.dim() == 4 else first)
        """The first stage at its own size, which every stage is rendered at (``full_steps``)."""
        self._regions = pipeline.regions(self.first)
        """Its regions, found once for every rendering of this path."""
        with torch.inference_mode():
            x1 = pipeline.prepare(first, 0)
        self._steps: list[Step] = [Step(pipeline.names[0], x1, None)]
        self._candidates: list[Tensor] = []
        self._candidate_seeds: list[int | None] = []
        self._candidate_latents: list[Tensor] = []

    @property
    def names(self) -> list[str]:
        return self.pipeline.names

    @property
    def steps(self) -> list[Step]:
        """The stages chosen so far, first stage included."""
        return list(self._steps)

    @property
    def next_stage(self) -> int | None:
        """Index of the stage to choose next; None once every stage is chosen."""
        n = len(self._steps)
        return n if n < len(self.names) else None

    @property
    def done(self) -> bool:
        return self.next_stage is None

    @property
    def candidates(self) -> list[Tensor]:
        """The variations currently offered for the next stage, (1, C, H, W) each."""
        return list(self._candidates)

    @property
    def candidate_seeds(self) -> list[int | None]:
        """The seed of each variation's latent; None for one borrowed from a reference artwork."""
        return list(self._candidate_seeds)

    @property
    def candidate_origins(self) -> list[str]:
        return [BORROWED if sd is None else f"seed {sd}" for sd in self._candidate_seeds]

    def _latent(self, stage: int, seed: int) -> Tensor:
        return self.pipeline.latents(1, seed)[stage]

    def variations(self, k: int = DEFAULT_VARIATIONS, seed: int = 0, reference: Tensor | None = None
                   ) -> list[Tensor]:
        """Offer ``k`` variations of the next stage that differ only in that stage's latent; the
        stages already chosen keep their latents. With a ``reference`` (a finished artwork), the first
        variation draws the stage with that artwork's latent of it (``WorkflowPipeline.borrow_latent``)."""
        s = self.next_stage
        if s is None:
            raise ConfigError(f"every stage is chosen, '{self.names[-1]}' included; go back a stage or start again")
        k = whole_number(k, VARIATIONS_LABEL, 1, MAX_VARIATIONS)
        seed = whole_number(seed, SEED_LABEL, 0, MAX_SEED)
        seeds: list[int | None] = [seed + v for v in range(k)]
        with torch.inference_mode():
            latents = [self._latent(s - 1, sd) for sd in seeds]
            if reference is not None:
                seeds[0], latents[0] = None, self.pipeline.borrow_latent(s, reference)
            zs = [step.latent.expand(k, -1) for step in self._steps[1:]] + [torch.cat(latents)]
            zs += zs[-1:] * (len(self.names) - 1 - s)  # the stages after s are not shown: any latent will do
            x1 = self._steps[0].image.expand(k, -1, -1, -1)
            out = self.pipeline.generate(x1, zs)[s]
        self._candidates = [out[v:v + 1].clone() for v in range(k)]
        self._candidate_seeds, self._candidate_latents = seeds, latents
        return self.candidates

    def pick(self, index: int) -> Step:
        """Keep variation ``index`` (0-based) as the next stage."""
        if not self._candidates:
            raise ConfigError("there are no variations to pick from yet; roll some first")
        index = int(index)
        if not 0 <= index < len(self._candidates):
            raise ConfigError(f"pick a variation from 1 to {len(self._candidates)}, got {index + 1}")
        step = Step(self.names[len(self._steps)], self._candidates[index], self._candidate_seeds[index],
                    self._candidate_latents[index])
        self._steps.append(step)
        self._candidates, self._candidate_seeds, self._candidate_latents = [], [], []
        return step

    def _full(self, stages: list[Tensor]) -> list[Tensor]:
        return self.pipeline.render_full(self.first, [s.cpu() for s in stages], self._regions)

    def full_steps(self) -> list[Tensor]:
        """The stages chosen so far at the first stage's own size, (C, H, W) each."""
        return self._full([s.image for s in self._steps])

    def full_candidates(self) -> list[Tensor]:
        """The variations offered for the next stage at the first stage's own size."""
        chosen = [s.image for s in self._steps]
        return [self._full(chosen + [c])[-1] for c in self._candidates]

    def back(self) -> bool:
        """Forget the last chosen stage (never the first); False if there is none."""
        if len(self._steps) == 1:
            return False
        self._steps.pop()
        self._candidates, self._candidate_seeds, self._candidate_latents = [], [], []
        return True

    def export(self, folder: str | os.PathLike) -> Downloads:
        """Downloads of the finished workflow."""
        if not self.done:
            raise ConfigError(f"the artwork is not finished yet: choose '{self.names[self.next_stage]}' first")
        return write_downloads(self.full_steps(), folder, "created", self.names, self.pipeline.workflow.spec.kinds)


def perceptual_note(perceptual: PerceptualLoss | None, reason: str | None = None) -> str:
    """The line the Edit tab shows about the loss its optimisation uses."""
    if perceptual is not None:
        return "Reconstruction loss: ℓ1 + VGG16 perceptual term (as in the paper)."
    return "Reconstruction loss: ℓ1 only, without the VGG16 perceptual term. " + (reason or "")


def load_perceptual_or_note(weights: str | os.PathLike | None = None,
                            device: str | torch.device = "cpu") -> tuple[PerceptualLoss | None, str]:
    """VGG16 when its weights are on this machine, otherwise no perceptual term and a note that says
    why and how to add it; editing works either way."""
    from ..editing.perceptual import default_perceptual

    notes: list[str] = []
    perceptual = default_perceptual(weights, device, notice=notes.append)
    reason = notes[0].removeprefix("note: ") if notes else None
    return perceptual, perceptual_note(perceptual, reason)


class EditState:
    """The Edit tab's artwork: an ``EditSession`` plus what the user should know about how it was
    fitted (losses, time, warnings such as an untrained regulariser)."""

    def __init__(self, session: EditSession, mode: str, steps: int, seconds: float, notes: list[str]):
        self.session = session
        self.mode, self.steps, self.seconds = mode, steps, seconds
        self.notes = notes

    @classmethod
    def from_artwork(cls, pipeline: WorkflowPipeline, artwork: Tensor, mode: str = DEFAULT_EDIT_MODE,
                     steps: int = DEFAULT_STEPS, perceptual: PerceptualLoss | None = None,
                     progress: ProgressCallback | None = None) -> EditState:
        """Infer the stages of a finished artwork and fit the vectors that regenerate it (paper §3)."""
        mode = one_of(mode, MODE_LABEL, list(EDIT_MODES))
        steps = whole_number(steps, STEPS_LABEL, 0, MAX_STEPS)
        method, regularization = EDIT_MODES[mode]
        names = pipeline.names
        total = max(1, steps * (len(names) - 1))

        def step_done(i: int, t: int, loss: Tensor) -> None:
            if progress is not None:
                progress((i * steps + t + 1) / total,
                         f"optimising {names[i + 1]}: step {t + 1}/{steps}, loss {float(loss.mean()):.4f}")

        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            session = EditSession.from_artwork(pipeline.workflow, artwork, method=method,
                                               regularization=regularization, steps=steps,
                                               networks=pipeline.edit_networks(perceptual), progress=step_done,
                                               max_size=APP_MAX_SIZE)
        notes = []
        for w in caught:
            if Path(w.filename).resolve().is_relative_to(PACKAGE):
                notes.append(" ".join(str(w.message).split()))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return cls(session, mode, steps, time.perf_counter() - t0, notes)

    @property
    def names(self) -> list[str]:
        return self.session.names

    @property
    def stages(self) -> list[Tensor]:
        return self.session.stages

    @property
    def inferred(self) -> list[Tensor]:
        """The stages the inference nets hallucinated from the artwork."""
        return list(self.session.reconstruction.inferred)

    @property
    def full_stages(self) -> list[Tensor]:
        """The current stages at the artwork's own size (``EditSession.full_stages``)."""
        return self.session.full_stages()

    @property
    def decomposed(self) -> list[Tensor]:
        """The artwork's stages at its own size before any edit; the last is the upload itself."""
        return list(self.session.full.base)

    @property
    def history(self) -> list[str]:
        return self.session.history

    def summary(self) -> str:
        """One line on how well the reconstruction matches the upload."""
        rec = self.session.reconstruction
        how = {"none": "encoded vectors, no optimisation", "adain": f"AdaIN optimisation, {self.steps} steps",
               "adain+learned": f"AdaIN optimisation + learned regularisation, {self.steps} steps",
               "auto": f"AdaIN optimisation, {auto_summary(self.session.workflow)}, {self.steps} steps"}[self.mode]
        return (f"Reconstruction ({how}, {self.seconds:.1f} s): final-stage ℓ1 {rec.l1_before:.4f} from the "
                f"encoders, {rec.l1_after:.4f} after fitting.")

    def resample(self, stage: int | str, seed: int) -> list[Tensor]:
        """A new look for ``stage``; earlier stages stay exactly as they are."""
        return self.session.resample(stage, whole_number(seed, SEED_LABEL, 0, MAX_SEED))

    def borrow(self, stage: int | str, artwork: Tensor) -> list[Tensor]:
        """Give ``stage`` the look of that stage of another finished artwork (``EditSession.borrow``)."""
        return self.session.borrow(stage, artwork)

    def redraw(self, stage: int | str, image: Tensor) -> list[Tensor]:
        """Replace the image of ``stage`` with the user's drawing and regenerate the later stages."""
        return self.session.set_stage_image(stage, image)

    def undo(self) -> bool:
        return self.session.undo()

    def export(self, folder: str | os.PathLike) -> Downloads:
        return write_downloads(self.full_stages, folder, "edited", self.names, self.session.workflow.spec.kinds)


@dataclass
class Session:
    """Everything one browser tab holds: its creation path, its edited artwork, and a download folder
    of its own (a random name, so no tab can guess another's)."""

    root: Path
    create: CreatePath | None = None
    edit: EditState | None = None
    folder: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder = Path(self.root) / uuid.uuid4().hex
