"""`artworkflow generate`: variations at every stage from a first-stage image."""
from __future__ import annotations

import argparse
import json

from ..config import AT_LEAST_ONE, SEED
from .base import command, device, number


@command("generate")
def _generate(a: argparse.Namespace) -> None:
    from ..generate import write_generation
    out = write_generation(a.model, a.input, a.out, variations=a.variations, seed=a.seed, device=a.device,
                           overwrite=a.overwrite)
    for stage, d in json.loads((out / "diversity.json").read_text()).items():
        rel = f", {d['l1_relative']:.2f} of the spread between real items" if d["l1_relative"] is not None else ""
        print(f"diversity of '{stage}': mean pairwise l1 {d['l1_variations']:.4f} between variations{rel}")
    print(f"wrote variations to {out} (open {out / 'index.html'})")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("generate", help="sample variations at every stage from a first-stage image")
    g.add_argument("--model", required=True, help="run folder or saved model folder")
    g.add_argument("--input", required=True, help="first-stage image, e.g. a sketch")
    g.add_argument("--variations", type=number(AT_LEAST_ONE), default=5, help="rows per grid: workflows per stage")
    g.add_argument("--seed", type=number(SEED), default=0, help="the same seed gives the same images")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--overwrite", action="store_true", help="replace files an earlier command left in --out")
    g.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
