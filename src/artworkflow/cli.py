"""`artworkflow` command line: validates arguments, records resolved options, and delegates to
plain functions. Errors a user can cause print one line (``--debug`` shows the traceback)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from .config import AT_LEAST_ONE, COUNT, FRACTION, POSITIVE, SEED, Range
from .errors import ArtworkflowError, ConfigError

COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {}
DESCRIPTION = ("Model artistic workflows (sketch → flat colour → shading → ...): build stage datasets, train a "
               "workflow, generate artwork stage by stage, edit finished artwork at any stage, evaluate, and "
               "serve the web app. 'artworkflow COMMAND --help' lists the options of a command.")
DEFAULT_PRESET = "tiny"


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if text and action.option_strings and "default" not in text.lower() and not unset:
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other refusal."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}; see '{self.prog} --help'\n")


def number(allowed: Range) -> Callable[[str], int | float]:
    """An argparse type for a numeric option: refused in one line outside ``allowed``."""
    def parse(text: str) -> int | float:
        try:
            value = int(text) if allowed.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {allowed}") from None
        if not allowed.admits(value):
            raise argparse.ArgumentTypeError(f"{text} is out of range; use {allowed}")
        return value
    return parse


def device(text: str) -> str:
    """An argparse type for --device: a device this machine has."""
    if text == "cpu":
        return text
    import torch
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"'{text}' is not a device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(f"{text}: CUDA is not available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise argparse.ArgumentTypeError(f"{text}: this machine has {count} CUDA device(s), cuda:0 to "
                                             f"cuda:{count - 1}")
    elif dev.type != "cpu":
        raise argparse.ArgumentTypeError(f"'{text}' is not supported; use cpu, cuda or cuda:N")
    return text


def precision(text: str) -> str:
    """An argparse type for --amp: 'float32' is another name for 'none' (no autocast)."""
    return "none" if text == "float32" else text


def command(name: str):
    def deco(fn):
        COMMANDS[name] = fn
        return fn
    return deco


# ---------------------------------------------------------------- dataset
@command("dataset toy")
def _dataset_toy(a: argparse.Namespace) -> None:
    from .data.toy import make_toy_dataset
    out = make_toy_dataset(a.out, stages=a.stages, size=a.size, count=a.count, seed=a.seed,
                           overwrite=a.overwrite, alternatives=a.alternatives)
    print(f"wrote toy dataset to {out}")


@command("dataset from-images")
def _dataset_from_images(a: argparse.Namespace) -> None:
    from .data.recipes.build import build_from_images
    report = build_from_images(a.src, a.out, a.recipe, masks=a.masks, size=a.size,
                               test_fraction=a.test_fraction, overwrite=a.overwrite)
    print(json.dumps(report, indent=2, default=str))


@command("dataset fluent-emoji")
def _dataset_fluent(a: argparse.Namespace) -> None:
    from .data.recipes.fluent import build_fluent_emoji
    report = build_fluent_emoji(a.out, stages=a.stages, size=a.size, cache_dir=a.cache_dir,
                                test_fraction=a.test_fraction, limit=a.limit, overwrite=a.overwrite)
    print(json.dumps(report, indent=2, default=str))


@command("dataset validate")
def _dataset_validate(a: argparse.Namespace) -> None:
    from .data.layout import validate
    report = validate(a.dir)
    for line in report["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    print(f"{a.dir}: ok: stages {report['spec'].names}, items {report['splits']}")


# ---------------------------------------------------------------- train
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
    from . import config as C
    for prefix, values in overrides:
        try:
            model = C.replace(model, values["model"], "model.")
            train = C.replace(train, values["train"], "train.")
        except ConfigError as e:
            raise ConfigError(f"{prefix}{e}") from None
    return model, train


def resolve_configs(a: argparse.Namespace):
    """Preset, then the --config YAML (sections model:, train:), then explicit flags."""
    from . import config as C
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
    from . import config as C
    from .train.checkpoint import read_run_config
    from .train.loop import RESUME_FREE, resumable_checkpoint
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
    from . import config as C
    from .train.loop import RESUME_FREE
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
    from .config import to_dict
    from .data.layout import read_spec
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
    from .train.loop import train as run_training
    options = {"preset": a.preset or DEFAULT_PRESET, "config": str(Path(a.config).resolve()) if a.config else None}
    res = run_training(data, a.out, model, train, resume=a.resume, device=a.device, progress=not a.quiet,
                       extend_steps=a.extend_steps or 0, options=options)
    if res.step and os.environ.get("RANK", "0") == "0":
        print(f"trained {res.step} steps in {res.seconds:.0f} s; model: {Path(a.out) / 'model'}; "
              f"samples: {Path(a.out) / 'index.html'}")


# ---------------------------------------------------------------- generate
@command("generate")
def _generate(a: argparse.Namespace) -> None:
    from .generate import write_generation
    out = write_generation(a.model, a.input, a.out, variations=a.variations, seed=a.seed, device=a.device,
                           overwrite=a.overwrite)
    for stage, d in json.loads((out / "diversity.json").read_text()).items():
        rel = f", {d['l1_relative']:.2f} of the spread between real items" if d["l1_relative"] is not None else ""
        print(f"diversity of '{stage}': mean pairwise l1 {d['l1_variations']:.4f} between variations{rel}")
    print(f"wrote variations to {out} (open {out / 'index.html'})")


# ---------------------------------------------------------------- evaluate
@command("evaluate")
def _evaluate(a: argparse.Namespace) -> None:
    from .editing.perceptual import default_perceptual, load_perceptual
    from .evaluate import check_inputs, evaluate, optional_inception
    check_inputs(a.model, a.data, a.out, a.overwrite)
    if a.perceptual == "none":
        perceptual = None
    elif a.perceptual == "vgg16":
        perceptual = load_perceptual("vgg16", a.vgg_weights, a.device)
    else:
        perceptual = default_perceptual(a.vgg_weights, a.device)
    notice = lambda text: print(text, file=sys.stderr)  # noqa: E731
    evaluate(a.model, a.data, a.out, variants=a.variants, steps=a.steps, trials=a.trials, limit=a.limit,
             reference_limit=a.reference_limit, perceptual=perceptual,
             inception=optional_inception(a.inception_weights, log=notice), device=a.device, seed=a.seed,
             amp=a.amp, overwrite=a.overwrite, progress=not a.quiet, log=notice)
    print(f"wrote {Path(a.out) / 'results.md'} and results.json")


# ---------------------------------------------------------------- demo
@command("demo")
def _demo(a: argparse.Namespace) -> None:
    from .demo import run_demo
    run_demo(a.out, minutes=a.minutes, data=a.data)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="artworkflow", description=DESCRIPTION)
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    ds = sub.add_parser("dataset", help="build or check a stage dataset",
                        description="Build a stage dataset (workflow.yaml + train/ + test/) or check one.")
    add_dataset_parsers(ds.add_subparsers(dest="sub", required=True, metavar="KIND"))
    tr = sub.add_parser("train", help="train a workflow (inference, then generation; separate, then joint)",
                        description="Train a workflow on a stage dataset into a run folder, or continue a run "
                        "(--resume) with the options it was started with.")
    add_train_args(tr)
    add_generate_parser(sub)
    add_evaluate_parser(sub)
    d = sub.add_parser("demo", help="create and edit with the bundled model, train a tiny model for a few minutes, "
                       "write one page of it all")
    d.add_argument("--out", default="runs/demo", help="demo folder; an earlier demo there is continued")
    d.add_argument("--minutes", type=number(POSITIVE), default=3.0,
                   help="training time budget in minutes (default: 3)")
    d.add_argument("--data", help="dataset folder (default: the bundled sample)")
    for name in FEATURE_COMMANDS:
        importlib.import_module(name).add_parsers(sub)
    return p


def add_dataset_parsers(ds: argparse._SubParsersAction) -> None:
    t = ds.add_parser("toy", help="procedural multi-stage dataset (tests, first demo)")
    t.add_argument("--out", required=True, help="output dataset folder")
    t.add_argument("--stages", type=int, default=3, choices=[2, 3, 4],
                   help="sketch, flat, shaded, lit: how many of them (default: 3)")
    t.add_argument("--size", type=number(Range(16, 4096, integer=True)), default=64,
                   help="image side in pixels, 16 to 4096 (default: 64)")
    t.add_argument("--count", type=number(AT_LEAST_ONE), default=200,
                   help="training items; the test split gets a tenth, at least 8 (default: 200)")
    t.add_argument("--seed", type=number(SEED), default=0,
                   help="the same seed always gives the same bytes (default: 0)")
    t.add_argument("--alternatives", type=number(COUNT), default=0, metavar="K",
                   help="also write, for every test item and later stage, K true alternatives of that stage "
                   "that differ only in its own random choices, under alternatives/ (default: 0, none)")
    t.add_argument("--overwrite", action="store_true", help="replace the generator's own files in a non-empty folder")
    f = ds.add_parser("from-images", help="sketch / rough or flat colour / final from any image folder")
    f.add_argument("src", help="folder of finished images, sub-folders included (an item's id is its path "
                   "inside SRC)")
    f.add_argument("--recipe", required=True, choices=["anime", "face"],
                   help="anime: sketch, rough colour, final; face: sketch, flat colour, final (needs --masks)")
    f.add_argument("--out", required=True, help="output dataset folder")
    f.add_argument("--masks", help="label masks (face recipe), at the same paths as the images (default: none)")
    f.add_argument("--size", type=number(Range(8, 4096, integer=True)), default=128,
                   help="image side in pixels after the centre crop")
    f.add_argument("--test-fraction", type=number(FRACTION), default=0.1,
                   help="share of the items that go to the test split (chosen by a hash of the id)")
    f.add_argument("--overwrite", action="store_true", help="replace the build's own files in a non-empty folder")
    e = ds.add_parser("fluent-emoji", help="real line → flat → shaded (→ 3D) artwork (Microsoft Fluent Emoji, MIT)")
    e.add_argument("--out", required=True, help="output dataset folder")
    e.add_argument("--stages", type=int, default=3, choices=[3, 4], help="3: line, flat, shaded; 4: also 3D")
    e.add_argument("--size", type=int, default=128, choices=[64, 128, 256], help="image side in pixels")
    e.add_argument("--cache-dir", help="where the npm packages are kept (default: ~/.cache/artworkflow/npm)")
    e.add_argument("--test-fraction", type=number(FRACTION), default=0.1,
                   help="share of the emoji that go to the test split")
    e.add_argument("--limit", type=number(AT_LEAST_ONE), help="use only this many emoji (default: all)")
    e.add_argument("--overwrite", action="store_true", help="replace the build's own files in a non-empty folder")
    v = ds.add_parser("validate", help="check a dataset folder and report every problem")
    v.add_argument("dir", help="dataset folder (workflow.yaml + train/ and test/)")


def add_generate_parser(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("generate", help="sample variations at every stage from a first-stage image")
    g.add_argument("--model", required=True, help="run folder or saved model folder")
    g.add_argument("--input", required=True, help="first-stage image, e.g. a sketch")
    g.add_argument("--variations", type=number(AT_LEAST_ONE), default=5, help="rows per grid: workflows per stage")
    g.add_argument("--seed", type=number(SEED), default=0, help="the same seed gives the same images")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--overwrite", action="store_true", help="replace files an earlier command left in --out")
    g.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate", help="the paper's Tables 1-2: reconstruction ℓ1/realism, edit realism")
    ev.add_argument("--model", required=True, help="run folder or saved model folder")
    ev.add_argument("--data", required=True, help="dataset with test/ (artworks) and train/ (realism reference)")
    ev.add_argument("--out", required=True, help="output folder for results.md and results.json")
    ev.add_argument("--variants", nargs="+", choices=list(VARIANT_NAMES), help="variants to run (default: all six)")
    ev.add_argument("--steps", type=number(COUNT), default=150, help="optimisation steps per stage (T)")
    ev.add_argument("--trials", type=number(AT_LEAST_ONE), default=5, help="edit trials per test image")
    ev.add_argument("--limit", type=number(AT_LEAST_ONE), help="use only the first N test images (default: all)")
    ev.add_argument("--reference-limit", type=number(AT_LEAST_ONE), default=2000,
                    help="real training images for realism")
    ev.add_argument("--perceptual", choices=["auto", "vgg16", "none"], default="auto",
                    help="perceptual term of the optimisation; auto: VGG16 when its weights are found")
    ev.add_argument("--vgg-weights", help="path to vgg16-397923af.pth (default: $ARTWORKFLOW_VGG16, torch hub cache)")
    ev.add_argument("--inception-weights", help="pt_inception-2015-12-05-6726825d.pth (pytorch-fid's release on "
                    "GitHub) for FID (default: $ARTWORKFLOW_INCEPTION, torch hub cache; without them SWD only)")
    ev.add_argument("--seed", type=number(SEED), default=0, help="seed of every random draw")
    ev.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
    ev.add_argument("--amp", type=precision, choices=["none", "bf16", "auto"], default="none",
                    metavar="{float32,bf16,auto}",
                    help="precision of optimisation and rendering; float32 (default; also 'none') gives tables "
                    "that do not depend on the machine, auto: bf16 where the hardware computes it natively")
    ev.add_argument("--overwrite", action="store_true", help="replace results an earlier command left in --out")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")


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


VARIANT_NAMES = ("none", "z", "adain", "adain_w1e-3", "adain_w1e-2", "adain_lr")
FEATURE_COMMANDS: list[str] = ["artworkflow.editing.commands", "artworkflow.app.commands"]
"""Modules that add their own subcommands: each has ``add_parsers(sub)`` and registers its
handlers with ``@command(name)``."""


def error_text(err: ArtworkflowError) -> str:
    """The error's own message: a DataLoader worker re-raises it with the worker's traceback in front,
    whose last line is the original ``module.Class: message``."""
    text = str(err)
    if "\nOriginal Traceback" in text:
        text = text.rstrip().splitlines()[-1].partition(": ")[2]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    key = args.cmd if args.cmd != "dataset" else f"dataset {args.sub}"
    try:
        return COMMANDS[key](args) or 0
    except ArtworkflowError as e:
        if args.debug:
            raise
        print(f"error: {error_text(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"interrupted{': ' if str(e) else ''}{e}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
