"""`artworkflow demo`: the bundled model, a short training run and one page of it all."""
from __future__ import annotations

import argparse

from ..config import POSITIVE
from .base import command, number


@command("demo")
def _demo(a: argparse.Namespace) -> None:
    from ..demo import run_demo
    run_demo(a.out, minutes=a.minutes, data=a.data)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="create and edit with the bundled model, train a tiny model for a few minutes, "
                       "write one page of it all")
    d.add_argument("--out", default="runs/demo", help="demo folder; an earlier demo there is continued")
    d.add_argument("--minutes", type=number(POSITIVE), default=3.0,
                   help="training time budget in minutes (default: 3)")
    d.add_argument("--data", help="dataset folder (default: the bundled sample)")
