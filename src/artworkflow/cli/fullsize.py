"""`artworkflow evaluate-fullsize`: realism of the generated stages at the data's own size, bicubic
upsampling against the full-size rendering."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import AT_LEAST_ONE, COUNT
from .base import command, device, number


@command("evaluate-fullsize")
def _evaluate_fullsize(a: argparse.Namespace) -> None:
    from ..evaluate_fullsize import evaluate_fullsize
    evaluate_fullsize(a.model, a.data, a.out, seeds=a.seeds, limit=a.limit, reference_limit=a.reference_limit,
                      device=a.device, overwrite=a.overwrite, progress=not a.quiet,
                      log=lambda text: print(text, file=sys.stderr))
    print(f"wrote {Path(a.out) / 'results.md'}, results.json and the grids")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate-fullsize", help="SWD of generated stages at the data's size: bicubic upsampling "
                        "against the full-size rendering")
    ev.add_argument("--model", required=True, help="run folder or saved model folder")
    ev.add_argument("--data", required=True, help="dataset with test/ (first stages) and train/ (realism reference), "
                    "square images at the size to render")
    ev.add_argument("--out", required=True, help="output folder for results.md, results.json and grid-<stage>.png")
    ev.add_argument("--seeds", type=number(AT_LEAST_ONE), default=3, help="generations per test item (seeds 0..N-1)")
    ev.add_argument("--limit", type=number(AT_LEAST_ONE), help="use only the first N test items (default: all)")
    ev.add_argument("--reference-limit", type=number(AT_LEAST_ONE), default=1000,
                    help="real training items for realism")
    ev.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N (the model's device)")
    ev.add_argument("--overwrite", action="store_true", help="replace results an earlier command left in --out")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_edit_parser(sub)


@command("evaluate-fullsize-edit")
def _evaluate_fullsize_edit(a: argparse.Namespace) -> None:
    import warnings

    from ..editing.regularization import UntrainedRegularizerWarning
    from ..evaluate_fullsize_edit import evaluate_fullsize_edit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedRegularizerWarning)
        evaluate_fullsize_edit(a.model, a.data, a.out, seeds=a.seeds, steps=a.steps, limit=a.limit, device=a.device,
                               overwrite=a.overwrite, log=lambda text: print(text, file=sys.stderr))
    print(f"wrote {Path(a.out) / 'results.md'}, results.json and grid.png")


def _add_edit_parser(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate-fullsize-edit", help="how much of each test artwork a full-size edit keeps: "
                        "gradient correlation with the input, against bicubic of the model's edit")
    ev.add_argument("--model", required=True, help="run folder or saved model folder")
    ev.add_argument("--data", required=True, help="dataset with test/ artworks, square images at the size to edit at")
    ev.add_argument("--out", required=True, help="output folder for results.md, results.json and grid.png")
    ev.add_argument("--seeds", type=number(AT_LEAST_ONE), default=3, help="re-samples per test artwork (seeds 0..N-1)")
    ev.add_argument("--steps", type=number(COUNT), default=150, help="optimisation steps per stage")
    ev.add_argument("--limit", type=number(AT_LEAST_ONE), help="use only the first N test artworks (default: all)")
    ev.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
    ev.add_argument("--overwrite", action="store_true", help="replace results an earlier command left in --out")
