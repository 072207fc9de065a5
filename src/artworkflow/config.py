"""Typed configuration. A checkpoint stores these dataclasses as JSON, so a run folder alone
rebuilds its model; presets name the sizes the paper and this machine use."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

AUGMENTATIONS = ("color", "translation", "cutout")
"""The DiffAugment parts ``train.diff_augment`` may list (see train/augment.py)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class StageSpec:
    name: str
    channels: int


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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stages": [dataclasses.asdict(s) for s in self.stages]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WorkflowSpec":
        example = "e.g. stages: [{name: sketch, channels: 1}, {name: flat, channels: 3}]"
        if not isinstance(d, dict) or "stages" not in d:
            raise ConfigError(f"no 'stages' list; name the stages in order, {example}")
        stages = d["stages"]
        if not isinstance(stages, list):
            raise ConfigError(f"'stages' must be a list of {{name, channels}} mappings, {example}")
        out = []
        for i, s in enumerate(stages):
            if not isinstance(s, dict) or "name" not in s:
                raise ConfigError(f"stage {i + 1} must be a mapping with 'name' and 'channels'")
            channels = s.get("channels", 3)
            if not isinstance(channels, int) or isinstance(channels, bool):
                raise ConfigError(f"stage '{s['name']}': channels is {channels!r}; use 1 (grey) or 3 (RGB)")
            out.append(StageSpec(str(s["name"]), channels))
        return cls(str(d.get("name", "workflow")), tuple(out))


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
        if self.resolution % 32 or not 32 <= self.resolution <= 1024:
            raise ConfigError(f"resolution {self.resolution} must be a multiple of 32 (64..512 tested)")
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not isinstance(value, bool) and value <= 0:
                raise ConfigError(f"model.{f.name} must be positive")
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
        if self.batch_size < 2 or self.batch_size % 2:
            raise ConfigError("batch_size must be even (half encoded branch, half random branch)")
        if self.max_steps is not None and self.max_steps < 4:
            raise ConfigError("max_steps must be at least 4 (one step per training phase)")


SMALL_BUDGET_EMA = 0.995
SMALL_BUDGET_AUGMENT = "color,translation,cutout"
"""The aids ``tiny`` and ``small`` switch on: on toy faces at 1,500 steps they lowered the SWD of
generated final stages from 96 to 79, nearly doubled each stage's diversity and lowered the
unoptimised reconstruction ℓ1 from 0.32 to 0.23 (docs/results.md); ``paper`` stays the published
recipe without them."""

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
