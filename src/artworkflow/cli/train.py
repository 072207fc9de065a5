"""`artworkflow train`: resolve the options (preset, --config file, flags; or a run's run.json on a
resume) and delegate to ``train.loop.train``."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..config import AT_LEAST_ONE, COUNT, POSITIVE, SEED, Range
from ..errors import ConfigError
from .base import command, device, number, precision

DEFAULT_PRESET = "tiny"
TRAIN_FLAGS = {"max_steps": "train", "batch_size": "train", "lr": "train", "seed": "train", "amp": "train",
               "num_workers": "train", "accel": "train", "resolution": "model"}
"""Command-line flags that set a config option, with the section of the option."""


def _config_file(path: str) -> dict[str, dict]:
    """The 'model:' and 'train:' sections of a --config YAML file."""
    import yaml
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        detail = " ".join(str(e).split())
        raise ConfigError(f"{path}: cannot read config ({e.__class__.__name__}: {detail}); fix the "
                          "file or drop --config") from None
    if not isinstance(data, dict) or set(data) - {"model", "train"}:
        raise ConfigError(f"{path}: expected only the sections 'model:' and 'train:', each a mapping "
                          "of options")
    return {"model": data.get("model") or {}, "train": data.get("train") or {}}


def _overrides(a: argparse.Namespace) -> list[tuple[str, dict[str, dict]]]:
    """What this command line sets itself, in the order it applies: the --config file, then the flags;
    each with the prefix its errors carry."""
    flags: dict[str, dict] = {"model": {}, "train": {}}
    for name, section in TRAIN_FLAGS.items():
        if getattr(a, name, None) is not None:
            flags[section][name] = getattr(a, name)
    return ([(f"{a.config}: ", _config_file(a.config))] if a.config else []) + [("", flags)]


def _apply(model, train, overrides: list[tuple[str, dict[str, dict]]]):
    from .. import config as C
    for prefix, values in overrides:
        try:
            model = C.replace(model, values["model"], "model.")
            train = C.replace(train, values["train"], "train.")
        except ConfigError as e:
            raise ConfigError(f"{prefix}{e}") from None
    return model, train


def resolve_configs(a: argparse.Namespace):
    """Preset, then the --config YAML (sections model:, train:), then explicit flags."""
    from .. import config as C
    return _apply(*C.preset(a.preset or DEFAULT_PRESET), _overrides(a))


def _given_keys(overrides: list[tuple[str, dict[str, dict]]]) -> dict[str, str]:
    """Every option the command line sets, as 'section.key' (nested: 'train.loss.cycle'), with how it was
    given (a flag or the config file)."""
    keys = {}
    for prefix, values in overrides:
        for section, options in values.items():
            for key, value in options.items():
                nested = value.items() if isinstance(value, dict) else [(None, value)]
                for sub, _ in nested:
                    name = f"{section}.{key}" + (f".{sub}" if sub else "")
                    keys[name] = f"{name} in {prefix.rstrip(': ')}" if prefix else f"--{key.replace('_', '-')}"
    return keys


def _lookup(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def resume_configs(a: argparse.Namespace, run: Path) -> tuple[Any, Any, dict]:
    """The options a run was started with (its latest checkpoint's run.json), with the free ones this
    command line changes (workers, logging and checkpoint cadence). Any other option given again with
    another value is refused: a resume continues the run as it was started."""
    from .. import config as C
    from ..train.checkpoint import read_run_config
    from ..train.loop import RESUME_FREE, resumable_checkpoint
    ckpt = resumable_checkpoint(run)
    recorded = read_run_config(ckpt)
    started = (C.model_config_from_dict(recorded["model"]), C.train_config_from_dict(recorded["train"]))
    overrides = _overrides(a)
    model, train = _apply(*started, overrides)
    asked = {"model": C.to_dict(model), "train": C.to_dict(train)}
    for key, how in _given_keys(overrides).items():
        old, new = _lookup(recorded, key), _lookup(asked, key)
        if old != new and key.split(".")[1] not in RESUME_FREE:
            longer = "; to train longer, pass --extend-steps N instead" if key == "train.max_steps" else ""
            raise ConfigError(f"{run}: the run was started with {key} = {old!r} and {how} asks for {new!r}; a "
                              f"resume continues the run as recorded in {ckpt / 'run.json'}, so drop {how.split()[0]}"
                              f"{longer}, or train into a new --out folder")
    if a.preset is not None:
        _check_preset(a.preset, recorded, overrides, run)
    return model, train, recorded


def _check_preset(name: str, recorded: dict, overrides: list, run: Path) -> None:
    """A --preset given on a resume must be the one the run was started with: by the name run.json
    records, or else by every option it sets that the command line does not set itself."""
    from .. import config as C
    from ..train.loop import RESUME_FREE
    started = (recorded.get("options") or {}).get("preset")
    if started is not None:
        if started != name:
            raise ConfigError(f"{run}: the run was started with --preset {started}, not {name}; drop --preset "
                              "to resume it, or train into a new --out folder")
        return
    model, train = _apply(*C.preset(name), overrides)
    for section, values in (("model", C.to_dict(model)), ("train", C.to_dict(train))):
        for key, value in values.items():
            if key not in RESUME_FREE and recorded[section].get(key) != value:
                raise ConfigError(f"{run}: preset {name} sets {section}.{key} = {value!r} but the run was started "
                                  f"with {recorded[section].get(key)!r}; drop --preset (a resume takes every option "
                                  "from run.json)")


@command("train")
def _train(a: argparse.Namespace) -> None:
    from ..config import to_dict
    from ..data.layout import read_spec
    if a.extend_steps is not None and not a.resume:
        raise ConfigError("--extend-steps lengthens a run that has checkpoints; use it with --resume")
    if a.resume:
        model, train, recorded = resume_configs(a, Path(a.out))
        data = a.data or recorded["data"]
        if not Path(data).is_dir():
            raise ConfigError(f"{data}: the run's data folder (recorded in its run.json) is gone; pass --data "
                              "with the dataset's new place")
    elif a.data is None:
        raise ConfigError("--data is needed to start a run (a resume reads it from the run's run.json); "
                          "pass --data DATASET")
    else:
        (model, train), data = resolve_configs(a), a.data
    spec = read_spec(data)
    if a.dry_run:
        print(json.dumps({"data": data, "out": a.out, "workflow": spec.to_dict(), "model": to_dict(model),
                          "train": to_dict(train), "resume": a.resume, "extend_steps": a.extend_steps}, indent=2))
        return
    from ..train.loop import train as run_training
    options = {"preset": a.preset or DEFAULT_PRESET, "config": str(Path(a.config).resolve()) if a.config else None}
    res = run_training(data, a.out, model, train, resume=a.resume, device=a.device, progress=not a.quiet,
                       extend_steps=a.extend_steps or 0, options=options)
    if res.step and os.environ.get("RANK", "0") == "0":
        print(f"trained {res.step} steps in {res.seconds:.0f} s; model: {Path(a.out) / 'model'}; "
              f"samples: {Path(a.out) / 'index.html'}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train", help="train a workflow (inference, then generation; separate, then joint)",
                        description="Train a workflow on a stage dataset into a run folder, or continue a run "
                        "(--resume) with the options it was started with.")
    add_train_args(tr)


def add_train_args(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--data", help="dataset folder, workflow.yaml + train/ + test/ (needed for a new run; "
                    "default on a resume: the one in run.json)")
    tr.add_argument("--out", required=True, help="run folder")
    tr.add_argument("--preset", choices=["tiny", "small", "paper"],
                    help="network sizes and schedule: tiny (64 px, CPU), small (128 px), paper (256 px) "
                    f"(default: {DEFAULT_PRESET}; a resume: the run's)")
    tr.add_argument("--config", help="YAML with 'model:' and 'train:' overrides of the preset (default: none)")
    tr.add_argument("--max-steps", type=number(Range(4, integer=True)), dest="max_steps",
                    help="shorten the whole schedule to N steps, every phase in proportion (default: the "
                    "preset's full schedule)")
    tr.add_argument("--extend-steps", type=number(AT_LEAST_ONE), dest="extend_steps", metavar="N",
                    help="with --resume: train N steps more, in the last phase (default: none)")
    tr.add_argument("--batch-size", type=number(Range(2, integer=True)), dest="batch_size",
                    help="even batch size (default: the preset's, 4 for tiny)")
    tr.add_argument("--resolution", type=number(Range(32, 1024, integer=True)),
                    help="image side, a multiple of 32 (default: the preset's)")
    tr.add_argument("--lr", type=number(POSITIVE), help="Adam step size (default: the preset's, 2e-4)")
    tr.add_argument("--seed", type=number(SEED), help="seed of initialisation, batches and latents (default: 0)")
    tr.add_argument("--amp", type=precision, choices=["none", "bf16", "fp16"], metavar="{float32,bf16,fp16}",
                    help="autocast precision; fp16 needs CUDA (default: float32, also called 'none')")
    tr.add_argument("--num-workers", type=number(COUNT), dest="num_workers",
                    help="DataLoader worker processes; may change on a resume (default: 0, load in the trainer)")
    tr.add_argument("--device", type=device, help="cpu, cuda or cuda:N (default: cuda when available)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its latest checkpoint, with the options in its run.json")
    tr.add_argument("--dry-run", action="store_true", help="print the resolved options and stop")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("--no-accel", dest="accel", action="store_false", default=None,
                    help="train the plain networks of artworkflow.nn, without the speed-ups of artworkflow.accel "
                    "(default: accelerated; the result is the same)")
