"""`artworkflow generate`: variations at every stage from a first-stage image."""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from ..config import AT_LEAST_ONE, SEED
from ..errors import ConfigError
from .base import add_layers_arg, add_size_args, command, device, number


@command("generate")
def _generate(a: argparse.Namespace) -> None:
    from ..generate import write_generation
    notice = lambda text: print(f"note: {text}", file=sys.stderr)  # noqa: E731
    out = write_generation(a.model, a.input, a.out, variations=a.variations, seed=a.seed, device=a.device,
                           overwrite=a.overwrite, size=a.size, max_size=a.max_size, notice=notice,
                           layers=a.layers, workflow_seeds=a.workflow_seeds, references=_references(a.reference))
    for stage, d in json.loads((out / "diversity.json").read_text()).items():
        rel = f", {d['l1_relative']:.2f} of the spread between real items" if d["l1_relative"] is not None else ""
        print(f"diversity of '{stage}': mean pairwise l1 {d['l1_variations']:.4f} between variations{rel}")
    for stage, image in _references(a.reference).items():
        print(f"every workflow draws '{stage}' with the latent of that stage of {image}")
    size = "the input's size" if a.size == "full" else "the model's size"
    records = json.loads((out / "workflows.json").read_text())
    print(f"wrote {len(records)} workflows at {size} to {out / 'workflow-<k>'} and the variation grids "
          f"(open {out / 'index.html'}); each again, alone:")
    for r in records:
        print(f"  workflow-{r['workflow']} (seed {r['seed']}): {_again(a, r['seed'])}")


def _again(a: argparse.Namespace, seed: int) -> str:
    """The command that writes the workflow of latent seed ``seed`` again, as workflow-1 of a new folder."""
    from ..fullsize.canvas import MAX_SIZE
    parts = ["artworkflow generate", *(["--model", a.model] if a.model else []), "--input", a.input,
             "--workflow-seed", str(seed), "--out", f"{a.out.rstrip('/')}-seed-{seed}"]
    parts += (["--size", a.size] if a.size != "full" else []) + (["--max-size", str(a.max_size)]
                                                               if a.max_size != MAX_SIZE else [])
    parts += ["--layers", ",".join(a.layers)] if a.layers else []
    for stage, image in a.reference or []:
        parts += ["--reference", f"{stage}={image}"]
    return " ".join(shlex.quote(str(p)) if i else p for i, p in enumerate(parts))


def reference(text: str) -> tuple[str, str]:
    """``--reference STAGE=IMAGE`` as (stage, image)."""
    stage, sep, image = text.partition("=")
    if not sep or not stage or not image:
        raise argparse.ArgumentTypeError(f"expected STAGE=IMAGE (e.g. flat=other-artwork.png), got {text!r}")
    return stage, image


def _references(pairs: list[tuple[str, str]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for stage, image in pairs or []:
        if stage in out:
            raise ConfigError(f"--reference {stage}=... given twice; borrow each stage from one artwork")
        out[stage] = image
    return out


def add_parsers(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("generate", help="sample variations at every stage from a first-stage image")
    g.add_argument("--model", help="run folder or saved model folder (default: the bundled demo model)")
    g.add_argument("--input", required=True, help="first-stage image, e.g. a sketch")
    g.add_argument("--variations", type=number(AT_LEAST_ONE), default=5,
                   help="random workflows written as workflow-<k>/, and rows per grid")
    g.add_argument("--seed", type=number(SEED), default=0, help="the same seed gives the same images")
    g.add_argument("--workflow-seed", type=number(SEED), action="append", dest="workflow_seeds", metavar="SEED",
                   help="write the workflow of this latent seed (as printed for each workflow-<k>) instead of "
                   "--variations random ones; repeatable (default: none)")
    g.add_argument("--reference", type=reference, action="append", metavar="STAGE=IMAGE",
                   help="draw STAGE (a generated stage, e.g. flat) with the latent of that stage of the finished "
                        "artwork IMAGE instead of a random one, in every workflow; repeatable (default: every "
                        "stage random)")
    g.add_argument("--out", required=True, help="output folder")
    add_size_args(g, "the input's")
    add_layers_arg(g, "each workflow-<k> (as workflow-<k>.ora|.psd)")
    g.add_argument("--overwrite", action="store_true", help="replace files an earlier command left in --out")
    g.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
