"""`artworkflow edit` and `artworkflow train-regularizer`: validate, record, delegate."""
from __future__ import annotations

import argparse
import html
import json
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli import command
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..nn.vgg import PerceptualLoss
    from ..workflow import Workflow

REGULARIZATION_HELP = "none, learned (train it with train-regularizer) or a fixed weight decay such as 1e-3"
NO_ACCEL_HELP = "run the plain networks of artworkflow.nn, without the speed-ups of artworkflow.accel"


def _regularization(value: str) -> str | float:
    if value in ("none", "learned"):
        return value
    try:
        w = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {REGULARIZATION_HELP}, got '{value}'") from None
    if w < 0:
        raise argparse.ArgumentTypeError(f"weight decay must be >= 0, got {w}")
    return w


class _EditAction(argparse.Action):
    """Collects --resample and --stage-image into one list, in command-line order."""

    def __call__(self, parser, namespace, values, option_string=None):
        edits = list(getattr(namespace, self.dest, None) or [])
        edits.append((option_string.lstrip("-"), values))
        setattr(namespace, self.dest, edits)


def _parse_resample(value: str) -> tuple[str, int | None]:
    stage, _, seed = value.partition(":")
    if not stage:
        raise ConfigError(f"--resample {value}: expected STAGE or STAGE:SEED")
    try:
        return stage, int(seed) if seed else None
    except ValueError:
        raise ConfigError(f"--resample {value}: the seed must be an integer") from None


def _parse_stage_image(value: str) -> tuple[str, Path]:
    stage, sep, path = value.partition("=")
    if not sep or not stage or not path:
        raise ConfigError(f"--stage-image {value}: expected STAGE=IMAGE, e.g. sketch=edited.png")
    if not Path(path).is_file():
        raise ConfigError(f"--stage-image {value}: {path} is not a file")
    return stage, Path(path)


def _checked_edit(wf: Workflow, kind: str, stage: str, value: Any) -> tuple[str, Any]:
    """Check an edit's stage and read its image before anything is written, so a bad edit leaves the
    output folder as it was."""
    from ..data.images import load_image
    from .regularizer import generation_index
    if kind == "resample":
        generation_index(wf, stage)
        return stage, value
    return stage, load_image(value, wf.spec.channels[wf.stage_index(stage)])


def _perceptual(kind: str | None, weights: str | None, device: str) -> PerceptualLoss | None:
    from .perceptual import default_perceptual, load_perceptual
    if kind is None:
        return default_perceptual(weights, device)
    return load_perceptual(kind, weights, device)


def _page(out: Path, title: str, sections: list[tuple[str, str]], metrics: dict[str, Any]) -> None:
    body = "\n".join(f"<h2>{html.escape(cap)}</h2><img src='{html.escape(f)}'>" for f, cap in sections)
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in metrics.items() if not isinstance(v, (list, dict)))
    (out / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>artworkflow edit</title>"
        "<style>body{font-family:sans-serif}img{image-rendering:pixelated;height:192px;width:auto}"
        "td{padding:0 1em}</style>"
        f"<h1>{html.escape(title)}</h1><table>{rows}</table>{body}")


@command("edit")
def _edit(a: argparse.Namespace) -> None:
    import torch

    from ..data.images import load_image, make_grid, save_image
    from ..workflow import Workflow
    from .regularization import UntrainedRegularizerWarning, untrained_note
    from .session import EditSession

    if a.steps < 0:
        raise ConfigError(f"--steps must be >= 0, got {a.steps}")
    edits = []
    for kind, value in a.edits or []:
        edits.append(("resample", _parse_resample(value)) if kind == "resample"
                     else ("stage-image", _parse_stage_image(value)))
    wf = Workflow.from_pretrained(a.model, map_location=a.device)
    names = wf.spec.names
    artwork = load_image(a.input, wf.spec.channels[-1])
    edits = [(kind, _checked_edit(wf, kind, stage, value)) for kind, (stage, value) in edits]
    perceptual = None if a.method == "none" else _perceptual(a.perceptual, a.vgg_weights, a.device)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    note = untrained_note(wf, a.model) if a.regularization == "learned" and a.method != "none" else None
    if note is not None:
        print(f"note: {note}", file=sys.stderr)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedRegularizerWarning)
        session = EditSession.from_artwork(wf, artwork, method=a.method, regularization=a.regularization,
                                           steps=a.steps, lr=a.lr, perceptual=perceptual, amp=a.amp,
                                           accel=a.accel, progress=not a.quiet)
    seconds = time.perf_counter() - t0
    rec = session.reconstruction
    save_image(rec.artwork[0], out / "input.png")
    rows = {"inferred": rec.inferred, "before": rec.initial, "after": rec.stages}
    for kind, images in rows.items():
        for name, img in zip(names, images):
            save_image(img[0], out / kind / f"{name}.png")
        save_image(make_grid([[s[0] for s in images]]), out / f"{kind}.png")
    sections = [("input.png", "input artwork"), ("inferred.png", "stages inferred from the input"),
                ("before.png", "regenerated from the encoded latents (before optimisation)"),
                ("after.png", f"regenerated after optimisation (method {a.method})")]

    applied = []
    for n, (kind, (stage, value)) in enumerate(edits, 1):
        if kind == "resample":
            session.resample(stage, value)
        else:
            session.set_stage_image(stage, value)
        label = session.history[-1]
        applied.append(label)
        for name, img in zip(names, session.stages):
            save_image(img[0], out / f"edit-{n}" / f"{name}.png")
        session.export_strip(out / f"edit-{n}.png")
        sections.append((f"edit-{n}.png", f"edit {n}: {label}"))
    session.export_gif(out / "workflow.gif")
    sections.append(("workflow.gif", "the workflow, one frame per stage" + (" (after the edits)" if edits else "")))

    metrics = {"model": str(a.model), "input": str(a.input), "stages": names, "method": a.method,
               "regularization": a.regularization, "steps": a.steps, "lr": a.lr, "perceptual": "vgg16" if perceptual is not None else "none",
               "amp": session.amp, "accel": a.accel, "l1_before": rec.l1_before, "l1_after": rec.l1_after,
               "optimisation_seconds": round(seconds, 3), "edits": applied,
               "device": str(wf.device), "torch_threads": torch.get_num_threads()}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _page(out, " → ".join(names), sections, metrics)
    print(f"final-stage l1 {rec.l1_before:.4f} before, {rec.l1_after:.4f} after optimisation; "
          f"wrote {out} (open {out / 'index.html'})")


@command("train-regularizer")
def _train_regularizer(a: argparse.Namespace) -> None:
    from ..data.dataset import StageDataset
    from ..workflow import Discriminators, Workflow, resolve_model_dir
    from .regularizer import generation_index, train_regularizer

    model_dir = resolve_model_dir(a.model)
    data = a.data
    if data is None:
        run_json = model_dir.parent / "run.json"
        if not run_json.is_file():
            raise ConfigError(f"{a.model}: no run.json next to the model to say which data it was trained "
                              "on; pass --data DIR")
        data = json.loads(run_json.read_text()).get("data")
        if not data or not Path(data).is_dir():
            raise ConfigError(f"{run_json}: recorded data folder {data!r} does not exist; pass --data DIR")
    wf = Workflow.from_pretrained(model_dir, map_location=a.device)
    disc = Discriminators.from_pretrained(model_dir).to(a.device)
    stage = generation_index(wf, a.stage)
    ds = StageDataset(data, "train", resolution=wf.model_config.resolution, train=False)
    if ds.spec.to_dict() != wf.spec.to_dict():
        raise ConfigError(f"{data}: workflow {ds.spec.names} does not match the model's {wf.spec.names}")
    perceptual = _perceptual(a.perceptual, a.vgg_weights, a.device)
    options = {"model": str(model_dir), "data": str(Path(data).resolve()), "stage": wf.spec.names[stage + 1],
               "samples": a.samples, "inner_steps": a.inner_steps, "updates": a.samples * a.inner_steps,
               "lr": a.lr, "lambda_gan": a.lambda_gan,
               "perceptual": "vgg16" if perceptual is not None else "none", "seed": a.seed,
               "accel": a.accel}
    if a.dry_run:
        print(json.dumps(options, indent=2))
        return
    report = train_regularizer(wf, disc, ds, stage + 1, a.samples, lr=a.lr, lambda_gan=a.lambda_gan,
                               inner_steps=a.inner_steps, perceptual=perceptual, seed=a.seed,
                               accel=a.accel, progress=not a.quiet)
    wf.save_pretrained(model_dir, discriminators=disc.cpu())
    log = model_dir.parent / "regularizer.jsonl" if (model_dir.parent / "run.json").is_file() else None
    if log is not None:
        with open(log, "a") as fh:
            fh.write(json.dumps({**options, **report}) + "\n")
    print(f"trained the regulariser of '{report['stage']}' on {a.samples} samples × {a.inner_steps} inner "
          f"steps = {report['updates']} updates ({report['regularizer_steps']} samples in total); w mean {report['w_mean']:.2e} "
          f"[{report['w_min']:.2e}, {report['w_max']:.2e}]; saved to {model_dir}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("edit", help="decompose an artwork into its stages, reconstruct it and edit a stage",
                       description="Infer the earlier stages of a finished artwork, fit the AdaIN vectors that "
                       "regenerate it (paper §3.2), optionally apply edits, and write images, index.html and "
                       "metrics.json. STAGE is a stage name or index; --resample STAGE redraws that stage's "
                       "appearance (the first stage has none to redraw).")
    e.add_argument("--model", required=True, help="run folder or saved model folder")
    e.add_argument("--input", required=True, help="the finished artwork (last stage)")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--resample", dest="edits", action=_EditAction, metavar="STAGE[:SEED]",
                   help="draw a new latent for STAGE and regenerate it and later stages (repeatable)")
    e.add_argument("--stage-image", dest="edits", action=_EditAction, metavar="STAGE=IMAGE",
                   help="replace STAGE with an edited image and regenerate later stages (repeatable)")
    e.add_argument("--method", default="adain", choices=["none", "adain", "z"],
                   help="what to optimise: nothing, the AdaIN vectors (paper) or the latents (baseline)")
    e.add_argument("--regularization", default="none", type=_regularization, help=REGULARIZATION_HELP)
    e.add_argument("--steps", type=int, default=150, help="optimisation steps per stage (paper: 150)")
    e.add_argument("--lr", type=float, default=0.1, help="step size (paper: 0.1)")
    e.add_argument("--perceptual", choices=["vgg16", "none"],
                   help="perceptual loss term (default: vgg16 when its weights are found, else none)")
    e.add_argument("--vgg-weights", help="path to vgg16-397923af.pth (default: $ARTWORKFLOW_VGG16, torch hub cache)")
    e.add_argument("--amp", default="auto", choices=["auto", "none", "bf16"],
                   help="bf16 autocast; auto (default): bf16 where the CPU or GPU computes it natively, else float32")
    e.add_argument("--device", default="cpu")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.add_argument("--no-accel", dest="accel", action="store_false", help=NO_ACCEL_HELP)

    r = sub.add_parser("train-regularizer", help="learn the weight decay of AdaIN optimisation for one stage",
                       description="Train the learned regulariser of one generation stage (supplement "
                       "Algorithm 1) and save it into the model folder. Every sample runs --inner-steps "
                       "optimisation steps of the AdaIN increment, each followed by one update of the "
                       "regulariser: the published schedule, 500 samples x 80 inner steps, is 40,000 updates.")
    r.add_argument("--model", required=True, help="run folder (or model folder with discriminators)")
    r.add_argument("--stage", required=True, help="the stage the regulariser serves: a name, or an index >= 1")
    r.add_argument("--data", help="dataset folder (default: the one recorded in RUN/run.json)")
    r.add_argument("--samples", "--steps", type=int, default=500, dest="samples",
                   help="training samples (aligned pairs), each an inner optimisation (default and published: 500)")
    r.add_argument("--inner-steps", type=int, default=80, dest="inner_steps",
                   help="optimisation steps of the AdaIN increment per sample, each followed by one regulariser "
                   "update (default and published: 80; updates = samples x inner steps = 40,000)")
    r.add_argument("--lr", type=float, default=1e-3, help="Adam step size of the regulariser (default: 1e-3)")
    r.add_argument("--lambda-gan", type=float, default=1.0, dest="lambda_gan",
                   help="weight of the critic's judgement of the edit (default: 1)")
    r.add_argument("--perceptual", choices=["vgg16", "none"],
                   help="perceptual loss term (default: vgg16 when its weights are found, else none)")
    r.add_argument("--vgg-weights", help="path to vgg16-397923af.pth")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="cpu")
    r.add_argument("--dry-run", action="store_true", help="print the resolved options and stop")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--no-accel", dest="accel", action="store_false", help=NO_ACCEL_HELP)
