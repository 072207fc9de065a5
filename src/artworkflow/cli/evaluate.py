"""`artworkflow evaluate`: the paper's Tables 1-2 on a trained model."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import AT_LEAST_ONE, COUNT, SEED
from ..variants import VARIANTS
from .base import add_perceptual_args, command, device, number, perceptual_from_args, precision


@command("evaluate")
def _evaluate(a: argparse.Namespace) -> None:
    from ..evaluate import check_inputs, evaluate, optional_inception
    check_inputs(a.model, a.data, a.out, a.overwrite)
    perceptual = perceptual_from_args(a)
    notice = lambda text: print(text, file=sys.stderr)  # noqa: E731
    evaluate(a.model, a.data, a.out, variants=a.variants, steps=a.steps, trials=a.trials, limit=a.limit,
             reference_limit=a.reference_limit, perceptual=perceptual,
             inception=optional_inception(a.inception_weights, log=notice), device=a.device, seed=a.seed,
             amp=a.amp, overwrite=a.overwrite, progress=not a.quiet, log=notice)
    print(f"wrote {Path(a.out) / 'results.md'} and results.json")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate", help="the paper's Tables 1-2: reconstruction ℓ1/realism, edit realism")
    ev.add_argument("--model", required=True, help="run folder or saved model folder")
    ev.add_argument("--data", required=True, help="dataset with test/ (artworks) and train/ (realism reference)")
    ev.add_argument("--out", required=True, help="output folder for results.md and results.json")
    ev.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="variants to run (default: all six)")
    ev.add_argument("--steps", type=number(COUNT), default=150, help="optimisation steps per stage (T)")
    ev.add_argument("--trials", type=number(AT_LEAST_ONE), default=5, help="edit trials per test image")
    ev.add_argument("--limit", type=number(AT_LEAST_ONE), help="use only the first N test images (default: all)")
    ev.add_argument("--reference-limit", type=number(AT_LEAST_ONE), default=2000,
                    help="real training images for realism")
    add_perceptual_args(ev)
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
