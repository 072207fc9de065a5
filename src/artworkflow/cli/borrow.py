"""`artworkflow evaluate-borrow`: does a stage borrowed from another artwork take that artwork's colours?"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import AT_LEAST_ONE
from .base import command, device, number


@command("evaluate-borrow")
def _evaluate_borrow(a: argparse.Namespace) -> None:
    from ..evaluate_borrow import evaluate_borrow
    evaluate_borrow(a.model, a.data, a.out, stage=a.stage, seeds=a.seeds, limit=a.limit, device=a.device,
                    overwrite=a.overwrite, log=lambda text: print(text, file=sys.stderr))
    print(f"wrote {Path(a.out) / 'results.md'}, results.json and grid.png")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate-borrow", help="colour distance to a reference artwork's real stage: the stage "
                        "borrowed from it against a random one, over pairs of test items")
    ev.add_argument("--model", required=True, help="run folder or saved model folder")
    ev.add_argument("--data", required=True, help="dataset with test/ items of the model's workflow")
    ev.add_argument("--out", required=True, help="output folder for results.md, results.json and grid.png")
    ev.add_argument("--stage", help="the generated stage to borrow (default: the first generated stage)")
    ev.add_argument("--seeds", type=number(AT_LEAST_ONE), default=3,
                    help="random latents compared against, one per seed (seeds 0..N-1)")
    ev.add_argument("--limit", type=number(AT_LEAST_ONE), help="use only the first N test items (default: all)")
    ev.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
    ev.add_argument("--overwrite", action="store_true", help="replace results an earlier command left in --out")
