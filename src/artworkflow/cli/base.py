"""What every command shares: the parser whose usage errors are one line, the ranged option types and
the registry of command handlers."""
from __future__ import annotations

import argparse
from typing import Callable

from ..config import Range
from ..errors import ArtworkflowError

COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {}


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


def _example(text: str, allowed: Range) -> int | float | None:
    """A value to suggest instead of ``text``: the nearest whole number to what was given (``2.5``,
    ``1e3``) when the range admits it, else a bound of the range, else 1 or 0."""
    near = []
    try:
        near.append(round(float(text)))
    except (ValueError, OverflowError):
        pass
    for candidate in (*near, allowed.low, allowed.high, 1, 0):
        if candidate is not None and allowed.integer and float(candidate).is_integer():
            candidate = int(candidate)
        if allowed.admits(candidate):
            return candidate
    return None


def number(allowed: Range) -> Callable[[str], int | float]:
    """An argparse type for a numeric option: refused in one line outside ``allowed``, saying what to give."""
    def parse(text: str) -> int | float:
        try:
            value = int(text) if allowed.integer else float(text)
        except ValueError:
            example = _example(text, allowed)
            kind = "a whole number" if allowed.integer else "a number"
            fix = f"; give {kind} such as {example}" if example is not None else ""
            raise argparse.ArgumentTypeError(f"'{text}' is not {allowed}{fix}") from None
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


def add_perceptual_args(parser: argparse.ArgumentParser) -> None:
    """The one convention of every command that optimises AdaIN vectors."""
    parser.add_argument("--perceptual", choices=["auto", "vgg16", "none"], default="auto",
                        help="perceptual term of the optimisation; auto (default): VGG16 when its weights are "
                        "found, else none")
    parser.add_argument("--vgg-weights", help="path to vgg16-397923af.pth (default: $ARTWORKFLOW_VGG16, "
                        "torch hub cache)")


def perceptual_from_args(a: argparse.Namespace):
    """The perceptual loss that --perceptual and --vgg-weights ask for (None: no perceptual term)."""
    from ..editing.perceptual import default_perceptual, load_perceptual
    if a.perceptual == "none":
        return None
    if a.perceptual == "auto":
        return default_perceptual(a.vgg_weights, a.device)
    return load_perceptual(a.perceptual, a.vgg_weights, a.device)


def add_size_args(parser: argparse.ArgumentParser, whose: str) -> None:
    """--size and --max-size, the same for every command that writes stage images."""
    from ..fullsize.canvas import MAX_SIZE, SIZE_RANGE
    parser.add_argument("--size", choices=["full", "model"], default="full",
                        help=f"stage images at {whose} own size (full, default) or at the model's resolution")
    parser.add_argument("--max-size", type=number(SIZE_RANGE), default=MAX_SIZE, dest="max_size",
                        help="longest side of full-size images; a larger input is shrunk to it")


def add_layers_arg(parser: argparse.ArgumentParser, files: str) -> None:
    """--layers, the same for every command that writes a workflow."""
    def formats(text: str) -> tuple[str, ...]:
        from ..report.layers import layer_formats
        try:
            return layer_formats(text)
        except ArtworkflowError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parser.add_argument("--layers", type=formats, default=(), metavar="ora,psd",
                        help=f"also write {files} as layered files (OpenRaster for Krita, GIMP, MyPaint; "
                        "Photoshop), one layer per stage; needs the layers extra (default: none)")


def command(name: str) -> Callable:
    """Register the decorated function as the handler of command ``name``."""
    def deco(fn):
        COMMANDS[name] = fn
        return fn
    return deco


def error_text(err: ArtworkflowError) -> str:
    """The error's own message: a DataLoader worker re-raises it with the worker's traceback in front,
    whose last line is the original ``module.Class: message``."""
    text = str(err)
    if "\nOriginal Traceback" in text:
        text = text.rstrip().splitlines()[-1].partition(": ")[2]
    return text
