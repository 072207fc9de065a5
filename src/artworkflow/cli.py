"""`artworkflow` command line: validates arguments, records resolved options, and delegates to
plain functions. Errors a user can cause print one line (``--debug`` shows the traceback)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

from .errors import ArtworkflowError, ConfigError

COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {}


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
    print(f"{a.dir}: ok: stages {report['spec'].names}, items {report['splits']}")


# ---------------------------------------------------------------- train
def resolve_configs(a: argparse.Namespace):
    """Preset, then the --config YAML (sections model:, train:), then explicit flags."""
    import yaml

    from . import config as C
    model, train = C.preset(a.preset)
    if a.config:
        try:
            data = yaml.safe_load(Path(a.config).read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            detail = " ".join(str(e).split())
            raise ConfigError(f"{a.config}: cannot read config ({e.__class__.__name__}: {detail}); fix the "
                              "file or drop --config") from None
        if not isinstance(data, dict) or set(data) - {"model", "train"}:
            raise ConfigError(f"{a.config}: expected only the sections 'model:' and 'train:', each a mapping "
                              "of options")
        try:
            model = C.replace(model, data.get("model") or {}, "model.")
            train = C.replace(train, data.get("train") or {}, "train.")
        except ConfigError as e:
            raise ConfigError(f"{a.config}: {e}") from None
    flags = {k: getattr(a, k) for k in ("max_steps", "amp", "batch_size", "seed", "num_workers", "lr")
             if getattr(a, k, None) is not None}
    train = C.replace(train, flags, "train.")
    if getattr(a, "accel", None) is not None:
        train = C.replace(train, {"accel": a.accel}, "train.")
    if a.resolution is not None:
        model = C.replace(model, {"resolution": a.resolution}, "model.")
    return model, train


@command("train")
def _train(a: argparse.Namespace) -> None:
    from .config import to_dict
    from .data.layout import read_spec
    model, train = resolve_configs(a)
    spec = read_spec(a.data)
    if a.dry_run:
        print(json.dumps({"data": a.data, "out": a.out, "workflow": spec.to_dict(), "model": to_dict(model),
                          "train": to_dict(train), "resume": a.resume}, indent=2))
        return
    from .train.loop import train as run_training
    res = run_training(a.data, a.out, model, train, resume=a.resume, device=a.device, progress=not a.quiet)
    if res.step and os.environ.get("RANK", "0") == "0":
        print(f"trained {res.step} steps in {res.seconds:.0f} s; model: {Path(a.out) / 'model'}; "
              f"samples: {Path(a.out) / 'index.html'}")


# ---------------------------------------------------------------- generate
@command("generate")
def _generate(a: argparse.Namespace) -> None:
    from .generate import write_generation
    out = write_generation(a.model, a.input, a.out, variations=a.variations, seed=a.seed, device=a.device)
    for stage, d in json.loads((out / "diversity.json").read_text()).items():
        rel = f", {d['l1_relative']:.2f} of the spread between real items" if d["l1_relative"] is not None else ""
        print(f"diversity of '{stage}': mean pairwise l1 {d['l1_variations']:.4f} between variations{rel}")
    print(f"wrote variations to {out} (open {out / 'index.html'})")


# ---------------------------------------------------------------- evaluate
@command("evaluate")
def _evaluate(a: argparse.Namespace) -> None:
    from .editing.perceptual import default_perceptual, load_perceptual
    from .evaluate import evaluate, optional_inception
    if a.perceptual == "none":
        perceptual = None
    elif a.perceptual == "vgg16":
        perceptual = load_perceptual("vgg16", a.vgg_weights, a.device)
    else:
        perceptual = default_perceptual(a.vgg_weights, a.device)
    evaluate(a.model, a.data, a.out, variants=a.variants, steps=a.steps, trials=a.trials, limit=a.limit,
             reference_limit=a.reference_limit,
             perceptual=perceptual, inception=optional_inception(a.inception_weights), device=a.device,
             seed=a.seed, amp=a.amp)
    print(f"wrote {Path(a.out) / 'results.md'} and results.json")


# ---------------------------------------------------------------- demo
@command("demo")
def _demo(a: argparse.Namespace) -> None:
    from .demo import run_demo
    run_demo(a.out, minutes=a.minutes, data=a.data)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="artworkflow", description=__doc__.split("\n")[0])
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="cmd", required=True)

    ds = sub.add_parser("dataset", help="build or check a stage dataset").add_subparsers(dest="sub", required=True)
    t = ds.add_parser("toy", help="procedural multi-stage dataset (tests, first demo)")
    t.add_argument("--out", required=True, help="output dataset folder")
    t.add_argument("--stages", type=int, default=3, choices=[2, 3, 4],
                   help="sketch, flat, shaded, lit: how many of them (default: 3)")
    t.add_argument("--size", type=int, default=64, help="image side in pixels (default: 64)")
    t.add_argument("--count", type=int, default=200, help="training items; the test split gets a tenth, at "
                   "least 8 (default: 200)")
    t.add_argument("--seed", type=int, default=0, help="the same seed always gives the same bytes (default: 0)")
    t.add_argument("--alternatives", type=int, default=0, metavar="K",
                   help="also write, for every test item and later stage, K true alternatives of that stage "
                   "that differ only in its own random choices, under alternatives/ (default: 0, none)")
    t.add_argument("--overwrite", action="store_true", help="replace the generator's own files in a non-empty folder")
    f = ds.add_parser("from-images", help="sketch / rough or flat colour / final from any image folder")
    f.add_argument("src")
    f.add_argument("--recipe", required=True, choices=["anime", "face"])
    f.add_argument("--out", required=True)
    f.add_argument("--masks", help="label masks (face recipe), same file stems as the images")
    f.add_argument("--size", type=int, default=128)
    f.add_argument("--test-fraction", type=float, default=0.1)
    f.add_argument("--overwrite", action="store_true")
    e = ds.add_parser("fluent-emoji", help="real line → flat → shaded (→ 3D) artwork (Microsoft Fluent Emoji, MIT)")
    e.add_argument("--out", required=True)
    e.add_argument("--stages", type=int, default=3, choices=[3, 4])
    e.add_argument("--size", type=int, default=128, choices=[64, 128, 256])
    e.add_argument("--cache-dir")
    e.add_argument("--test-fraction", type=float, default=0.1)
    e.add_argument("--limit", type=int)
    e.add_argument("--overwrite", action="store_true")
    v = ds.add_parser("validate", help="check a dataset folder and report every problem")
    v.add_argument("dir")

    tr = sub.add_parser("train", help="train a workflow (inference, then generation; separate, then joint)")
    add_train_args(tr)

    g = sub.add_parser("generate", help="sample variations at every stage from a first-stage image")
    g.add_argument("--model", required=True, help="run folder or saved model folder")
    g.add_argument("--input", required=True, help="first-stage image, e.g. a sketch")
    g.add_argument("--variations", type=int, default=5)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True)
    g.add_argument("--device", default="cpu")

    ev = sub.add_parser("evaluate", help="the paper's Tables 1-2: reconstruction ℓ1/realism, edit realism")
    ev.add_argument("--model", required=True)
    ev.add_argument("--data", required=True, help="dataset with test/ (artworks) and train/ (realism reference)")
    ev.add_argument("--out", required=True)
    ev.add_argument("--variants", nargs="+", choices=list(VARIANT_NAMES), help="default: all six")
    ev.add_argument("--steps", type=int, default=150, help="optimisation steps per stage (T)")
    ev.add_argument("--trials", type=int, default=5)
    ev.add_argument("--limit", type=int, help="use only the first N test images")
    ev.add_argument("--reference-limit", type=int, default=2000, help="real training images for realism")
    ev.add_argument("--perceptual", choices=["auto", "vgg16", "none"], default="auto")
    ev.add_argument("--vgg-weights")
    ev.add_argument("--inception-weights")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--amp", choices=["none", "bf16", "auto"], default="none",
                    help="precision of optimisation and rendering (default float32: tables that do not depend on the machine)")

    d = sub.add_parser("demo", help="build data, train a tiny model for a few minutes, write sample pages")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--minutes", type=float, default=4.0)
    d.add_argument("--data", help="dataset folder (default: the bundled sample)")
    for name in FEATURE_COMMANDS:
        importlib.import_module(name).add_parsers(sub)
    return p


def add_train_args(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--data", required=True, help="dataset folder (workflow.yaml + train/ + test/)")
    tr.add_argument("--out", required=True, help="run folder")
    tr.add_argument("--preset", default="tiny", choices=["tiny", "small", "paper"])
    tr.add_argument("--config", help="YAML with 'model:' and 'train:' overrides")
    tr.add_argument("--max-steps", type=int, dest="max_steps")
    tr.add_argument("--batch-size", type=int, dest="batch_size")
    tr.add_argument("--resolution", type=int)
    tr.add_argument("--lr", type=float)
    tr.add_argument("--seed", type=int)
    tr.add_argument("--amp", choices=["none", "bf16", "fp16"])
    tr.add_argument("--num-workers", type=int, dest="num_workers")
    tr.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out")
    tr.add_argument("--dry-run", action="store_true", help="print the resolved options and stop")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("--no-accel", dest="accel", action="store_false", default=None,
                    help="train the plain networks of artworkflow.nn, without the speed-ups of artworkflow.accel")


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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
