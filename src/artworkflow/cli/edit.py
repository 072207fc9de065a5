"""`artworkflow edit` and `artworkflow train-regularizer`: validate, record, delegate."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import AT_LEAST_ONE, COUNT, NON_NEGATIVE, POSITIVE, SEED, Range
from ..errors import ConfigError
from ..report.page import Figure, Section, write_page
from .base import add_layers_arg, add_perceptual_args, add_size_args, command, device, number, perceptual_from_args, precision

if TYPE_CHECKING:
    from ..workflow import Workflow

REGULARIZATION_HELP = ("auto (the paper's learned regularisation for each stage whose regulariser is trained, "
                       "w = 0 for the others), none, learned (train it with train-regularizer) or a fixed weight "
                       "decay such as 1e-3")
NO_ACCEL_HELP = ("run the plain networks of artworkflow.nn, without the speed-ups of artworkflow.accel "
                 "(default: accelerated)")


def _regularization(value: str) -> str | float:
    if value in ("auto", "none", "learned"):
        return value
    try:
        w = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {REGULARIZATION_HELP}, got '{value}'") from None
    if not NON_NEGATIVE.admits(w):
        raise argparse.ArgumentTypeError(f"weight decay {value} is out of range; use {NON_NEGATIVE}")
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
        number = int(seed) if seed else None
    except ValueError:
        raise ConfigError(f"--resample {value}: the seed must be {SEED}") from None
    if number is not None and not SEED.admits(number):
        raise ConfigError(f"--resample {value}: the seed must be {SEED}")
    return stage, number


def _parse_stage_image(value: str) -> tuple[str, Path]:
    stage, sep, path = value.partition("=")
    if not sep or not stage or not path:
        raise ConfigError(f"--stage-image {value}: expected STAGE=IMAGE, e.g. sketch=edited.png")
    file = Path(path)
    if not file.is_file():
        where = "" if file.is_absolute() else f" (looked in {Path.cwd()})"
        what = "is a folder, not an image file" if file.is_dir() else f"does not exist{where}"
        raise ConfigError(f"--stage-image {value}: {path} {what}; give the edited image of {stage} as "
                          f"--stage-image {stage}=PATH with PATH an existing image file")
    return stage, file


def _checked_edit(wf: Workflow, kind: str, stage: str, value: Any) -> tuple[str, Any]:
    """Check an edit's stage and read its image before anything is written, so a bad edit leaves the
    output folder as it was."""
    from ..data.images import load_image
    from ..editing.regularizer import generation_index
    if kind == "resample":
        generation_index(wf, stage)
        return stage, value
    return stage, load_image(value, wf.spec.channels[wf.stage_index(stage)])


def _page(out: Path, title: str, sections: list[tuple[str, str]], metrics: dict[str, Any]) -> None:
    table = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    write_page(out / "index.html", title, [Section(table=table)] + [Section(cap, figures=[Figure(f)])
                                                                    for f, cap in sections])


def _edit_files(names: list[str], n_edits: int, layers: tuple[str, ...] = ()) -> list[str]:
    """Every file ``edit`` writes, so that one already in the output folder is refused before any work."""
    rows = ["inferred", "before", "after", *(f"edit-{n}" for n in range(1, n_edits + 1))]
    return ["input.png", "workflow.gif", "metrics.json", "index.html", *(f"{r}.png" for r in rows),
            *(f"{r}/{name}.png" for r in rows for name in names), *(f"stages/{name}.png" for name in names),
            *(f"layers.{f}" for f in layers)]


def _write_stages(session, names: list[str], size: str, out: Path) -> list[tuple[str, str]]:
    """Every stage of the edited workflow as ``stages/<stage>.png``, at the artwork's size or the model's."""
    from ..data.images import save_image
    images = session.full_stages() if size == "full" else [s[0] for s in session.stages]
    for name, img in zip(names, images):
        save_image(img, out / "stages" / f"{name}.png")
    h, w = images[-1].shape[-2:]
    return [(f"stages/{name}.png", f"{name}, {w}×{h} px") for name in names]


def _write_edits(session, edits: list, names: list[str], out: Path, sections: list[tuple[str, str]]) -> list[str]:
    """Apply the command line's edits in order, writing each one's stages and strip; returns their labels."""
    from ..data.images import save_image
    applied = []
    for n, (kind, (stage, value)) in enumerate(edits, 1):
        if kind == "resample":
            session.resample(stage, value)
        else:
            session.set_stage_image(stage, value)
        applied.append(session.history[-1])
        for name, img in zip(names, session.stages):
            save_image(img[0], out / f"edit-{n}" / f"{name}.png")
        session.export_strip(out / f"edit-{n}.png")
        sections.append((f"edit-{n}.png", f"edit {n}: {applied[-1]}"))
    return applied


@command("edit")
def _edit(a: argparse.Namespace) -> None:
    import torch

    from ..data.images import load_image, make_grid, save_image
    from ..data.sample import DEMO_MODEL
    from ..editing.regularization import UntrainedRegularizerWarning, regularization_note, stage_choices
    from ..editing.session import EditSession
    from ..outputs import OutputFolder
    from ..workflow import Workflow

    edits = []
    for kind, value in a.edits or []:
        edits.append(("resample", _parse_resample(value)) if kind == "resample"
                     else ("stage-image", _parse_stage_image(value)))
    model = DEMO_MODEL if a.model is None else a.model
    wf = Workflow.from_pretrained(model, map_location=a.device)
    names = wf.spec.names
    artwork = load_image(a.input, wf.spec.channels[-1])
    edits = [(kind, _checked_edit(wf, kind, stage, value)) for kind, (stage, value) in edits]
    perceptual = None if a.method == "none" else perceptual_from_args(a)
    folder = OutputFolder(a.out, a.overwrite)
    folder.check(_edit_files(names, len(edits), a.layers))
    note = regularization_note(wf, a.regularization, a.method, model)
    if note is not None:
        print(f"note: {note}", file=sys.stderr)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedRegularizerWarning)
        session = EditSession.from_artwork(wf, artwork, method=a.method, regularization=a.regularization,
                                           steps=a.steps, lr=a.lr, perceptual=perceptual, amp=a.amp,
                                           accel=a.accel, progress=not a.quiet, max_size=a.max_size,
                                           notice=lambda text: print(f"note: {text}", file=sys.stderr))
    seconds = time.perf_counter() - t0
    rec = session.reconstruction
    with folder as out:
        save_image(rec.artwork[0], out / "input.png")
        for kind, images in {"inferred": rec.inferred, "before": rec.initial, "after": rec.stages}.items():
            for name, img in zip(names, images):
                save_image(img[0], out / kind / f"{name}.png")
            save_image(make_grid([[s[0] for s in images]]), out / f"{kind}.png")
        sections = [("input.png", "input artwork"), ("inferred.png", "stages inferred from the input"),
                    ("before.png", "regenerated from the encoded latents (before optimisation)"),
                    ("after.png", f"regenerated after optimisation (method {a.method})")]
        applied = _write_edits(session, edits, names, out, sections)
        session.export_gif(out / "workflow.gif")
        sections[:0] = _write_stages(session, names, a.size, out)
        for f in a.layers:
            session.export_layers(out / f"layers.{f}")
        sections.append(("workflow.gif", "the workflow, one frame per stage" + (" (after the edits)" if edits else "")))
        metrics = {"model": str(model), "input": str(a.input), "stages": names, "method": a.method,
                   "regularization": a.regularization,
                   "stage_regularization": dict(zip(names[1:], stage_choices(wf, a.regularization, a.method))),
                   "steps": a.steps, "lr": a.lr,
                   "perceptual": "vgg16" if perceptual is not None else "none",
                   "amp": session.amp, "precision": "float32" if session.amp == "none" else session.amp,
                   "accel": a.accel, "size": a.size,
                   "l1_before": rec.l1_before, "l1_after": rec.l1_after,
                   "optimisation_seconds": round(seconds, 3), "edits": applied,
                   "device": str(wf.device), "torch_threads": torch.get_num_threads()}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        _page(out, " → ".join(names), sections, metrics)
    out = Path(a.out)
    print(f"final-stage l1 {rec.l1_before:.4f} before, {rec.l1_after:.4f} after optimisation; "
          f"wrote {out} (open {out / 'index.html'})")


def _recorded_data(model: str, model_dir: Path) -> str:
    from ..train.checkpoint import RUN_FILE, read_run_config
    run_json = model_dir.parent / RUN_FILE
    if not run_json.is_file():
        raise ConfigError(f"{model}: no run.json next to the model to say which data it was trained on; "
                          "pass --data DIR")
    data = read_run_config(model_dir.parent, "pass --data DIR, or copy the run.json of the run's latest "
                                             "checkpoint (checkpoints/step-*/run.json) over it").get("data")
    if not data or not Path(data).is_dir():
        raise ConfigError(f"{run_json}: recorded data folder {data!r} does not exist; pass --data DIR")
    return data


@command("train-regularizer")
def _train_regularizer(a: argparse.Namespace) -> None:
    from ..data.dataset import StageDataset
    from ..editing.regularizer import generation_index, train_regularizer
    from ..outputs import writing
    from ..workflow import (WEIGHTS_FILE, Discriminators, Workflow, check_same_workflow, refuse_bundled,
                            resolve_model_dir, save_regularizer)

    model_dir = resolve_model_dir(a.model)
    refuse_bundled(model_dir, "--model")
    data = a.data if a.data is not None else _recorded_data(a.model, model_dir)
    wf = Workflow.from_pretrained(model_dir, map_location=a.device)
    disc = Discriminators.from_pretrained(model_dir).to(a.device)
    stage = generation_index(wf, a.stage)
    ds = StageDataset(data, "train", resolution=wf.model_config.resolution, train=False)
    check_same_workflow(ds.spec, data, wf.spec, a.model)
    perceptual = perceptual_from_args(a)
    options = {"model": str(model_dir), "data": str(Path(data).resolve()), "stage": wf.spec.names[stage + 1],
               "samples": a.samples, "inner_steps": a.inner_steps, "updates": a.samples * a.inner_steps,
               "lr": a.lr, "lambda_gan": a.lambda_gan,
               "perceptual": "vgg16" if perceptual is not None else "none", "seed": a.seed,
               "accel": a.accel, "save_every": a.save_every}
    if a.dry_run:
        print(json.dumps(options, indent=2))
        return
    kept = "; the model was left as it was"
    with writing(model_dir, kept):  # before hours of training: can the result be saved there?
        (model_dir / f".write-test-{os.getpid()}").touch()
        (model_dir / f".write-test-{os.getpid()}").unlink()
    def save() -> None:
        with writing(model_dir / WEIGHTS_FILE, kept):
            save_regularizer(wf, stage, model_dir / WEIGHTS_FILE)

    report = train_regularizer(wf, disc, ds, stage + 1, a.samples, lr=a.lr, lambda_gan=a.lambda_gan,
                               inner_steps=a.inner_steps, perceptual=perceptual, seed=a.seed,
                               accel=a.accel, progress=not a.quiet, save=save, save_every=a.save_every)
    save()
    log = model_dir.parent / "regularizer.jsonl"
    if (model_dir.parent / "run.json").is_file():
        with writing(log), open(log, "a") as fh:
            fh.write(json.dumps({**options, **report}) + "\n")
    print(f"trained the regulariser of '{report['stage']}' on {a.samples} samples × {a.inner_steps} inner "
          f"steps = {report['updates']} updates ({report['regularizer_steps']} samples in total); w mean {report['w_mean']:.2e} "
          f"[{report['w_min']:.2e}, {report['w_max']:.2e}]; saved to {model_dir / WEIGHTS_FILE}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("edit", help="decompose an artwork into its stages, reconstruct it and edit a stage",
                       description="Infer the earlier stages of a finished artwork, fit the AdaIN vectors that "
                       "regenerate it (paper §3.2), optionally apply edits, and write images, index.html and "
                       "metrics.json. STAGE is a stage name or index; --resample STAGE redraws that stage's "
                       "appearance (the first stage has none to redraw).")
    e.add_argument("--model", help="run folder or saved model folder (default: the bundled demo model)")
    e.add_argument("--input", required=True, help="the finished artwork (last stage)")
    e.add_argument("--out", required=True, help="output folder; stages/<stage>.png holds the edited workflow")
    add_size_args(e, "the artwork's")
    add_layers_arg(e, "the edited workflow (as layers.ora|.psd)")
    e.add_argument("--overwrite", action="store_true", help="replace files an earlier command left in --out")
    e.add_argument("--resample", dest="edits", action=_EditAction, metavar="STAGE[:SEED]",
                   help="draw a new latent for STAGE and regenerate it and later stages (repeatable; default: "
                   "no edits)")
    e.add_argument("--stage-image", dest="edits", action=_EditAction, metavar="STAGE=IMAGE",
                   help="replace STAGE with an edited image and regenerate later stages (repeatable; default: none)")
    e.add_argument("--method", default="adain", choices=["none", "adain", "z"],
                   help="what to optimise: nothing, the AdaIN vectors (paper) or the latents (baseline)")
    e.add_argument("--regularization", default="auto", type=_regularization, help=REGULARIZATION_HELP)
    e.add_argument("--steps", type=number(COUNT), default=150, help="optimisation steps per stage (paper: 150)")
    e.add_argument("--lr", type=number(POSITIVE), default=0.1, help="step size, > 0 (default and paper: 0.1)")
    add_perceptual_args(e)
    e.add_argument("--amp", default="auto", type=precision, choices=["auto", "none", "bf16"],
                   metavar="{auto,float32,bf16}",
                   help="bf16 autocast; auto (default): bf16 where the CPU or GPU computes it natively, else "
                   "float32 (also called 'none')")
    e.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.add_argument("--no-accel", dest="accel", action="store_false", help=NO_ACCEL_HELP)

    r = sub.add_parser("train-regularizer", help="learn the weight decay of AdaIN optimisation for one stage",
                       description="Train the learned regulariser of one generation stage (supplement "
                       "Algorithm 1) and save it into the model folder (only that stage's regulariser in "
                       "model.safetensors is replaced, atomically, so several stages can train at once into "
                       "one model). Every sample runs --inner-steps optimisation steps of the AdaIN increment, "
                       "each followed by one update of the regulariser: the published schedule, 500 samples x "
                       "80 inner steps, is 40,000 updates.")
    r.add_argument("--model", required=True, help="run folder (or model folder with discriminators)")
    r.add_argument("--stage", required=True, help="the stage the regulariser serves: a name, or an index >= 1")
    r.add_argument("--data", help="dataset folder (default: the one recorded in RUN/run.json)")
    r.add_argument("--samples", "--steps", type=number(AT_LEAST_ONE), default=500, dest="samples",
                   help="training samples (aligned pairs), each an inner optimisation (default and published: 500)")
    r.add_argument("--inner-steps", type=number(Range(2, integer=True)), default=80, dest="inner_steps",
                   help="optimisation steps of the AdaIN increment per sample, each followed by one regulariser "
                   "update (default and published: 80; updates = samples x inner steps = 40,000)")
    r.add_argument("--lr", type=number(POSITIVE), default=1e-3,
                   help="Adam step size of the regulariser (default: 1e-3)")
    r.add_argument("--lambda-gan", type=number(NON_NEGATIVE), default=1.0, dest="lambda_gan",
                   help="weight of the critic's judgement of the edit (default: 1)")
    add_perceptual_args(r)
    r.add_argument("--seed", type=number(SEED), default=0, help="seed of the sample order")
    r.add_argument("--save-every", type=number(AT_LEAST_ONE), default=50, dest="save_every",
                   help="save the regulariser into the model every N samples, so that an interrupted run "
                   "keeps them; running the command again trains --samples more from there (default: 50)")
    r.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
    r.add_argument("--dry-run", action="store_true", help="print the resolved options and stop")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--no-accel", dest="accel", action="store_false", help=NO_ACCEL_HELP)
