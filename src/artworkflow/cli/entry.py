"""The `artworkflow` program: one parser over every command, and ``main``, which runs a command and
prints an error a user can cause as one line (``--debug`` shows the traceback)."""
from __future__ import annotations

import argparse
import sys

from ..errors import ArtworkflowError
from . import app, borrow, dataset, demo, edit, evaluate, fullsize, generate, train
from .base import COMMANDS, Parser, error_text

DESCRIPTION = ("Model artistic workflows (sketch → flat colour → shading → ...): build stage datasets, train a "
               "workflow, generate artwork stage by stage, edit finished artwork at any stage, evaluate, and "
               "serve the web app. 'artworkflow COMMAND --help' lists the options of a command.")
SUBCOMMANDS = (dataset, train, generate, evaluate, fullsize, borrow, demo, edit, app)
"""The modules of the commands, in the order the help lists them: each has ``add_parsers(sub)`` and
registers its handlers with ``@command(name)``."""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="artworkflow", description=DESCRIPTION)
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command line (default: this process's); returns the exit status."""
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
