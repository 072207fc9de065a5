"""`artworkflow dataset toy | from-images | fluent-emoji | validate`: build or check a stage dataset."""
from __future__ import annotations

import argparse
import json
import sys

from ..config import AT_LEAST_ONE, COUNT, FRACTION, SEED, Range
from .base import command, number


@command("dataset toy")
def _dataset_toy(a: argparse.Namespace) -> None:
    from ..data.toy import make_toy_dataset
    out = make_toy_dataset(a.out, stages=a.stages, size=a.size, count=a.count, seed=a.seed,
                           overwrite=a.overwrite, alternatives=a.alternatives)
    print(f"wrote toy dataset to {out}")


@command("dataset from-images")
def _dataset_from_images(a: argparse.Namespace) -> None:
    from ..data.recipes.build import build_from_images
    report = build_from_images(a.src, a.out, a.recipe, masks=a.masks, size=a.size,
                               test_fraction=a.test_fraction, overwrite=a.overwrite)
    print(json.dumps(report, indent=2, default=str))


@command("dataset fluent-emoji")
def _dataset_fluent(a: argparse.Namespace) -> None:
    from ..data.recipes.fluent import build_fluent_emoji
    report = build_fluent_emoji(a.out, stages=a.stages, size=a.size, cache_dir=a.cache_dir,
                                test_fraction=a.test_fraction, limit=a.limit, overwrite=a.overwrite)
    print(json.dumps(report, indent=2, default=str))


@command("dataset validate")
def _dataset_validate(a: argparse.Namespace) -> None:
    from ..data.layout import validate
    report = validate(a.dir)
    for line in report["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    print(f"{a.dir}: ok: stages {report['spec'].names}, items {report['splits']}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("dataset", help="build or check a stage dataset",
                        description="Build a stage dataset (workflow.yaml + train/ + test/) or check one.")
    _add_kinds(ds.add_subparsers(dest="sub", required=True, metavar="KIND"))


def _add_kinds(ds: argparse._SubParsersAction) -> None:
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
