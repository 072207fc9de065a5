"""Typed configuration. A checkpoint stores these dataclasses as JSON, so a run folder alone
rebuilds its model; presets name the sizes the paper and this machine use."""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

AUGMENTATIONS = ("color", "translation", "cutout")
"""The DiffAugment parts ``train.diff_augment`` may list (see train/augment.py)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SEED_MAX = 2**32 - 1
"""Seeds run from 0 to SEED_MAX: every stream derived from one (seed · 7919 + epoch, seed · 1000 + k)
stays within the 64 bits a torch generator takes."""
STAGE_KEYS = ("name", "channels", "kind")
STAGE_KINDS = ("line", "region", "smooth")
"""How a stage is rendered at the artwork's own size (``fullsize``): ``line`` is the line art whose edges
every later stage keeps, ``region`` a stage of flat colour per region (flat, rough colour), ``smooth`` a
stage that adds smooth change such as light and shadow."""
WORKFLOW_KEYS = ("name", "stages")


@dataclass(frozen=True)
class Range:
    """The values a numeric option may take: finite, an integer when ``integer``, and within the bounds
    (``low``/``high`` inclusive unless ``open_low``/``open_high``)."""

    low: float | None = None
    high: float | None = None
    integer: bool = False
    open_low: bool = False
    open_high: bool = False

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        low, high = (f"{b:g}" if isinstance(b, float) else str(b) for b in (self.low, self.high))
        if self.low is not None and self.high is not None:
            return f"{kind} in {'(' if self.open_low else '['}{low}, {high}{')' if self.open_high else ']'}"
        if self.low is not None:
            return f"{kind} {'>' if self.open_low else '>='} {low}"
        if self.high is not None:
            return f"{kind} {'<' if self.open_high else '<='} {high}"
        return kind

    def admits(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or (value < self.high if self.open_high else value <= self.high)


def check_range(name: str, value: Any, allowed: Range) -> Any:
    """Refuse ``value`` for option ``name`` unless ``allowed`` admits it, in one line with the range."""
    if not allowed.admits(value):
        raise ConfigError(f"{name} is {value!r}; it must be {allowed}")
    return value


POSITIVE = Range(0, open_low=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1, integer=True)
COUNT = Range(0, integer=True)
SEED = Range(0, SEED_MAX, integer=True)
FRACTION = Range(0, 1, open_high=True)


def _check_fields(obj: Any, where: str, ranges: dict[str, Range]) -> None:
    """Check every field named in ``ranges`` (None is left to the field's own rule)."""
    for name, allowed in ranges.items():
        value = getattr(obj, name)
        if value is not None:
            check_range(f"{where}{name}", value, allowed)


@dataclass(frozen=True)
class StageSpec:
    name: str
    channels: int
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in STAGE_KINDS:
            raise ConfigError(f"stage '{self.name}': kind is {self.kind!r}; use one of {', '.join(STAGE_KINDS)} "
                              "or leave it out")


def default_kinds(n_stages: int) -> list[str]:
    """The kinds of a workflow that names none (models and data older than the key): line art, then
    flat regions, then smooth stages."""
    return ["line", "region", *["smooth"] * (n_stages - 2)]


@dataclass(frozen=True)
class WorkflowSpec:
    """The stages of a workflow, first (e.g. sketch) to last (the finished artwork)."""

    name: str
    stages: tuple[StageSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        if len(self.stages) < 2:
            raise ConfigError(f"workflow '{self.name}' needs at least 2 stages, got {len(self.stages)}; list every "
                              "stage from the first (e.g. a sketch) to the finished artwork")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError(f"workflow '{self.name}' has repeated stage names {names}; give each stage its own "
                              "name")
        for s in self.stages:
            if not _NAME.match(s.name):
                raise ConfigError(f"stage name '{s.name}' must be letters, digits, '_', '-' or '.'")
            if s.channels not in (1, 3):
                raise ConfigError(f"stage '{s.name}' has {s.channels} channels; use 1 (grey) or 3 (RGB)")

    @property
    def n_stages(self) -> int:
        return len(self.stages)

    @property
    def channels(self) -> list[int]:
        return [s.channels for s in self.stages]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    @property
    def kinds(self) -> list[str]:
        """Each stage's kind (``STAGE_KINDS``): as declared, else ``default_kinds``'s."""
        default = default_kinds(self.n_stages)
        return [s.kind or d for s, d in zip(self.stages, default)]

    def same_stages(self, other: "WorkflowSpec") -> bool:
        """Whether two workflows have the same stages to train on: names and channels (kinds only say
        how a stage is rendered at full size)."""
        return [(s.name, s.channels) for s in self.stages] == [(s.name, s.channels) for s in other.stages]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stages": [{k: v for k, v in dataclasses.asdict(s).items() if v is not None}
                                              for s in self.stages]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WorkflowSpec":
        example = "e.g. stages: [{name: sketch, channels: 1}, {name: flat, channels: 3}]"
        if not isinstance(d, dict) or "stages" not in d:
            raise ConfigError(f"no 'stages' list; name the stages in order, {example}")
        _known_keys(d, WORKFLOW_KEYS, "")
        stages = d["stages"]
        if not isinstance(stages, list):
            raise ConfigError(f"'stages' must be a list of {{name, channels}} mappings, {example}")
        out = []
        for i, s in enumerate(stages):
            if not isinstance(s, dict) or "name" not in s:
                raise ConfigError(f"stage {i + 1} must be a mapping with 'name' and 'channels'")
            _known_keys(s, STAGE_KEYS, f" in stage '{s['name']}'")
            channels = s.get("channels", 3)
            if not isinstance(channels, int) or isinstance(channels, bool):
                raise ConfigError(f"stage '{s['name']}': channels is {channels!r}; use 1 (grey) or 3 (RGB)")
            out.append(StageSpec(str(s["name"]), channels, s.get("kind")))
        return cls(str(d.get("name", "workflow")), tuple(out))


def _known_keys(d: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    """A misspelt key would otherwise fall back to its default without a word."""
    unknown = [str(k) for k in d if k not in known]
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'{where}; the known keys are {', '.join(known)}")


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes. ``width`` is the generator's base width (64 in the paper). ``unet_depth`` None
    halves the inference U-Net down to a 1×1 bottleneck (8 levels at 256 px, as the published
    ``unet_256``), or as far as the resolution divides by 2. ``enc_norm`` keeps the published instance
    norms in the latent encoder (see nn/encoder.py for why the small presets drop them)."""

    resolution: int = 256
    width: int = 64
    nz: int = 8
    n_res: int = 4
    mlp_dim: int = 256
    enc_width: int = 64
    enc_blocks: int = 4
    enc_norm: bool = True
    unet_width: int = 64
    unet_depth: int | None = None
    disc_width: int = 64
    disc_layers: int = 3
    disc_scales: int = 2

    def __post_init__(self) -> None:
        _check_fields(self, "model.", {f.name: AT_LEAST_ONE for f in fields(self) if f.name != "enc_norm"})
        if self.resolution % 32 or not 32 <= self.resolution <= 1024:
            raise ConfigError(f"model.resolution is {self.resolution}; it must be a multiple of 32 from 32 to 1024 "
                              "(64..512 tested)")
        if self.resolution % (1 << self.unet_levels):
            raise ConfigError(f"unet_depth {self.unet_depth} too deep for resolution {self.resolution}; use at most "
                              f"{(self.resolution & -self.resolution).bit_length() - 1} or leave it unset")

    @property
    def unet_levels(self) -> int:
        """Down-sampling levels of the inference U-Net (see ``unet_depth``)."""
        if self.unet_depth is not None:
            return self.unet_depth
        return (self.resolution & -self.resolution).bit_length() - 1

    @property
    def adain_dim(self) -> int:
        """Length of the AdaIN vector: a scale and a bias for every channel of 2·n_res layers."""
        return 2 * self.n_res * 2 * (4 * self.width)


@dataclass(frozen=True)
class LossWeights:
    """Loss weights from the paper and supplement (BicycleGAN terms + cycle consistency)."""

    l1: float = 10.0
    latent: float = 0.5
    kl: float = 0.01
    cycle: float = 1.0
    mode_seeking: float = 0.01
    inference_l1: float = 10.0

    def __post_init__(self) -> None:
        _check_fields(self, "train.loss.", {f.name: NON_NEGATIVE for f in fields(self)})


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and schedule. Phase lengths are in epochs, as in the published README;
    ``max_steps`` shortens the whole schedule proportionally (every phase keeps at least one step).
    ``load_size`` is the resize before the random crop; None means resolution × 286/256 (paper).
    ``init`` is ``xavier`` (the published Xavier-normal, gain 0.02) or ``torch`` (PyTorch's defaults,
    which learn faster from few steps: the small presets use them; see docs/architecture.md).
    ``diff_augment`` lists DiffAugment parts ("color,translation,cutout") applied before the generation
    critics; ``ema`` > 0 keeps a moving average of the generator and encoder weights with that decay,
    which the saved model (sampling and editing) uses.
    ``channels_last`` stores activations and weights as NHWC, the layout oneDNN's convolutions run
    in without reordering (faster on CPU in float32 and bf16; benchmarks/train_speed.py compares).
    ``accel`` trains the networks through ``artworkflow.accel`` (same function and weights, faster);
    False trains the plain networks of ``artworkflow.nn``."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    adam_eps: float = 1e-8
    batch_size: int = 8
    load_size: int | None = None
    flip: bool = True
    inference_epochs: float = 15
    inference_joint_epochs: float = 15
    generation_epochs: float = 40
    generation_joint_epochs: float = 15
    max_steps: int | None = None
    seed: int = 0
    amp: str = "none"
    channels_last: bool = True
    accel: bool = True
    num_workers: int = 0
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    init: str = "xavier"
    diff_augment: str = ""
    ema: float = 0.0
    loss: LossWeights = field(default_factory=LossWeights)

    @property
    def augmentations(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.diff_augment.split(",") if p.strip())

    def load_size_for(self, resolution: int) -> int:
        if self.load_size is None:
            return round(resolution * 286 / 256)
        if self.load_size < resolution:
            raise ConfigError(f"load_size {self.load_size} is smaller than the resolution {resolution}")
        return self.load_size

    def __post_init__(self) -> None:
        if self.init not in ("xavier", "torch"):
            raise ConfigError(f"init must be xavier (the published Xavier-normal, gain 0.02) or torch "
                              f"(PyTorch's defaults), got '{self.init}'")
        unknown = [p for p in self.augmentations if p not in AUGMENTATIONS]
        if unknown:
            raise ConfigError(f"train.diff_augment: unknown part {', '.join(unknown)}; use a comma-separated list "
                              f"of {', '.join(AUGMENTATIONS)}, or '' for none")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"train.ema is {self.ema}; it must be in [0, 1): the decay of the moving average "
                              "of the generator and encoder weights (0: off, e.g. 0.999)")
        if self.amp not in ("none", "bf16", "fp16"):
            raise ConfigError(f"amp must be none, bf16 or fp16, got '{self.amp}'")
        _check_fields(self, "train.", TRAIN_RANGES)
        if self.batch_size % 2:
            raise ConfigError(f"train.batch_size is {self.batch_size}; it must be even (half encoded branch, "
                              "half random branch)")
        if not any(getattr(self, f"{p}_epochs") > 0 for p in ("inference", "inference_joint", "generation",
                                                                "generation_joint")):
            raise ConfigError("train: every *_epochs option is 0; give at least one training phase epochs > 0")


TRAIN_RANGES: dict[str, Range] = {
    "lr": POSITIVE, "beta1": FRACTION, "beta2": FRACTION, "adam_eps": POSITIVE,
    "batch_size": Range(2, integer=True), "load_size": AT_LEAST_ONE,
    **{f"{p}_epochs": NON_NEGATIVE for p in ("inference", "inference_joint", "generation", "generation_joint")},
    "max_steps": Range(4, integer=True), "seed": SEED, "num_workers": COUNT,
    "log_every": AT_LEAST_ONE, "sample_every": AT_LEAST_ONE, "checkpoint_every": AT_LEAST_ONE,
    "keep_checkpoints": AT_LEAST_ONE}
"""The allowed values of TrainConfig's numeric options (max_steps: at least one step per phase)."""

SMALL_BUDGET_EMA = 0.995
SMALL_BUDGET_AUGMENT = "color,translation,cutout"
"""The aids ``tiny`` and ``small`` switch on: on toy faces at 1,500 steps they lowered the SWD of
generated final stages from 96 to 79, nearly doubled each stage's diversity and lowered the
unoptimised reconstruction ℓ1 from 0.32 to 0.23. On Fluent Emoji (1,439 items) the average helps as
much, while DiffAugment lowers the reconstruction ℓ1 but not the SWD (docs/results.md). ``paper``
stays the published recipe without them."""

PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    "paper": (ModelConfig(), TrainConfig()),
    "small": (
        ModelConfig(resolution=128, width=32, enc_width=32, unet_width=32, disc_width=32, mlp_dim=128,
                    enc_norm=False),
        TrainConfig(init="torch", ema=SMALL_BUDGET_EMA, diff_augment=SMALL_BUDGET_AUGMENT),
    ),
    "tiny": (
        ModelConfig(resolution=64, width=16, mlp_dim=64, enc_width=16, enc_blocks=3, unet_width=16,
                    disc_width=16, n_res=2, enc_norm=False),
        TrainConfig(batch_size=4, sample_every=100, checkpoint_every=100, init="torch", ema=SMALL_BUDGET_EMA,
                    diff_augment=SMALL_BUDGET_AUGMENT),
    ),
}


_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "None": (type(None),)}


def _check_type(name: str, value: Any, annotation: str) -> Any:
    """Refuse a value of the wrong type by its option name, before it fails somewhere obscure. YAML
    reads ``1e-3`` (no dot) as a string, so a float option takes a string that parses as one."""
    kinds = [k.strip() for k in annotation.split("|")]
    if not all(k in _TYPES for k in kinds):
        return value
    if "float" in kinds and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    allowed = tuple(t for k in kinds for t in _TYPES[k])
    if not isinstance(value, allowed) or isinstance(value, bool) and "bool" not in kinds:
        raise ConfigError(f"option '{name}' is {value!r}; it must be {' or '.join(kinds)}")
    return value


def _mapping(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"'{where.rstrip('.')}' is {data!r}; it must be a mapping of options")


def _build(cls, data: dict[str, Any], where: str):
    _mapping(data, where)
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"unknown option '{where}{key}'; known: {', '.join(sorted(known))}")
        value = _check_type(f"{where}{key}", value, str(known[key].type))
        if key == "loss" and cls is TrainConfig:
            value = value if isinstance(value, LossWeights) else _build(LossWeights, value, "train.loss.")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where.rstrip('.')}: {e}") from None


def replace(obj, overrides: dict[str, Any], where: str = ""):
    """Return a copy of a config dataclass with (possibly nested) overrides applied and validated."""
    _mapping(overrides, where)
    data = to_dict(obj)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return _build(type(obj), data, where)


def to_dict(obj) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def model_config_from_dict(d: dict[str, Any]) -> ModelConfig:
    return _build(ModelConfig, d, "model.")


def train_config_from_dict(d: dict[str, Any]) -> TrainConfig:
    return _build(TrainConfig, d, "train.")


def preset(name: str) -> tuple[ModelConfig, TrainConfig]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
