"""`artworkflow ...` command line: every command validates its arguments, records the resolved options
and delegates to plain functions of the layers below, none of which imports this package."""
from .entry import build_parser, main

__all__ = ["build_parser", "main"]
