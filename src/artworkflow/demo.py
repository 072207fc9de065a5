"""The main job end to end on bundled data. With the bundled model: create (variations at every
stage from a sample's line art) and edit (a sample artwork decomposed, reconstructed, re-sampled at
a stage, a stage image changed). Then train a tiny workflow for a few minutes, to show that
training works here. One page shows all of it."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from .config import WorkflowSpec, model_config_from_dict, preset, replace, train_config_from_dict
from .data.images import load_image, make_grid, save_image
from .data.layout import image_path, list_ids, read_spec
from .data.sample import DEMO_MODEL, bundled_sample_path, full_size_image
from .data.toy import make_toy_dataset
from .editing.session import EditSession
from .errors import OutputError
from .generate import write_generation
from .report.layers import layer_formats_installed
from .report.page import Figure, Section, write_page
from .report.workflow_files import write_gif, write_strip
from .train import objectives as O
from .train.checkpoint import RUN_FILE, latest_checkpoint, read_run_config
from .train.loop import train
from .workflow import Discriminators, Workflow, read_model_config

CREATE_ITEM = "birthday-cake"
EDIT_ITEM = "pensive-face"
"""Test items of the bundled sample (never seen in training) shown on the page."""


def default_data(out: Path) -> Path:
    """The bundled real sample when the package ships it, else a procedural dataset."""
    path = bundled_sample_path()
    if (path / "workflow.yaml").is_file():
        return path
    toy = out / "toy-data"
    if not (toy / "workflow.yaml").is_file():
        make_toy_dataset(toy, stages=3, size=64, count=200)
    return toy


def seconds_per_step(spec: WorkflowSpec, batch: int) -> float:
    """Time one generation step of the tiny model here, to turn minutes into a step budget."""
    model, cfg = preset("tiny")
    wf, disc = Workflow(spec, model), Discriminators(spec, model)
    r = model.resolution
    stages = [torch.rand(batch, c, r, r) * 2 - 1 for c in spec.channels]
    ctx = O.StepContext(0, 0, torch.arange(batch))
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        losses, fakes = O.generation_generator_loss(wf, disc, stages, False, ctx, cfg.loss, cfg.augmentations)
        losses["gen/total"].backward()
        O.generation_discriminator_loss(disc, fakes, ctx, cfg.augmentations)["gen_d/total"].backward()
        best = min(best, time.perf_counter() - t0)
    return best * 1.15


def _test_item(data: Path, stage: str, wanted: str) -> Path:
    """The bundled full-size image of a test item when there is one, else the data's own."""
    split = "test" if (data / "test").is_dir() else "train"
    ids = list_ids(data, split)
    item = wanted if wanted in ids else ids[0]
    return full_size_image(stage, item) or image_path(data, split, stage, item)


def _size(image: torch.Tensor) -> str:
    return f"{image.shape[-1]}×{image.shape[-2]} px"


def create_section(model: Path, data: Path, out: Path) -> Section:
    """Fig. 5 of the paper: from one line drawing, whole workflows at the drawing's own size, then the
    variations at each stage (earlier stages fixed) at the model's size."""
    names = read_spec(data).names
    line = _test_item(data, names[0], CREATE_ITEM)
    formats = layer_formats_installed()
    write_generation(model, line, out, variations=5, overwrite=True, layers=formats)  # the demo's own pages
    rows = [[load_image(out / f"workflow-{k}" / f"{n}.png", 3) for n in names] for k in (1, 2, 3)]
    save_image(make_grid(rows), out / "full-size.png")
    figures = [Figure(f"{out.name}/full-size.png", f"three workflows at the line art's own size, "
                      f"{_size(rows[0][0])} (files: workflow-<k>/<stage>.png)")]
    figures += [Figure(f"{out.name}/stage-{n}.png", f"variations of '{n}' at the model's size: each row changes "
                       "only this stage's latent") for n in names[1:]]
    links = [(f"{out.name}/workflow-1.{f}", f"workflow 1 as a layered .{f} file (Krita, GIMP, Photoshop)")
             for f in formats]
    return Section("Create: an artwork stage by stage",
                   f"From the line art of {line.stem} (a test item), the bundled model draws each later stage; "
                   f"columns: {' → '.join(names)}.", figures, links=links)


def _recoloured(stage: torch.Tensor) -> torch.Tensor:
    """A user's recolouring of a flat-colour stage: its red, green and blue channels rotated."""
    return stage[:, [2, 0, 1]] if stage.shape[1] == 3 else -stage


def edit_section(model: Path, data: Path, out: Path) -> Section:
    """Fig. 6 of the paper: a finished artwork decomposed into stages, reconstructed (AdaIN
    optimisation with the learned regulariser), then edited at an intermediate stage."""
    wf = Workflow.from_pretrained(model)
    names = wf.spec.names
    art_path = _test_item(data, names[-1], EDIT_ITEM)
    session = EditSession.from_artwork(wf, load_image(art_path, wf.spec.channels[-1]), method="adain",
                                       regularization="learned", progress=False)
    rec = session.reconstruction
    mid = names[1]
    full = [("full-decomposed.png", f"the finished {art_path.stem} decomposed at its own size, "
             f"{_size(session.full_stages()[-1])}; the last stage is the file itself", session.full_stages())]
    files = [("inferred.png", f"stages inferred from the finished {art_path.stem}", rec.inferred),
             ("reconstructed.png", f"regenerated after AdaIN optimisation: final-stage ℓ1 {rec.l1_before:.3f} "
              f"→ {rec.l1_after:.3f}", session.stages)]
    for seed in (1, 2):
        files.append((f"resample-{seed}.png", f"'{mid}' re-sampled (seed {seed}): earlier stages kept",
                      session.resample(mid, seed)))
        full.append((f"full-resample-{seed}.png", f"'{mid}' re-sampled (seed {seed}) at full size: the artwork's "
                     "lines and detail stay, the colours follow the edit", session.full_stages()))
        session.undo()
    recoloured = _recoloured(session.full_stages()[1][None])
    files.append(("stage-image.png", f"'{mid}' image recoloured by hand: later stages follow",
                  session.set_stage_image(mid, recoloured)))
    full.append(("full-stage-image.png", f"'{mid}' recoloured by hand at full size: later stages follow",
                 session.full_stages()))
    for name, _, stages in full + files:
        write_strip(stages, out / name)
    write_gif(session.full_stages(), out / "workflow.gif")
    figures = [Figure(f"{out.name}/{name}", caption) for name, caption, _ in full]
    figures += [Figure(f"{out.name}/{name}", caption + " (model's size)") for name, caption, _ in files]
    figures.append(Figure(f"{out.name}/workflow.gif", "the edited workflow at full size, one frame per stage"))
    return Section("Edit: an existing artwork at any stage", f"columns: {' → '.join(names)}", figures)


def _configs(run: Path, spec: WorkflowSpec, minutes: float):
    """The tiny preset with a step budget for ``minutes`` here; an earlier demo's run continues with the
    options it was started with."""
    ckpt = latest_checkpoint(run)
    if ckpt is not None:
        recorded = read_run_config(ckpt)
        return model_config_from_dict(recorded["model"]), train_config_from_dict(recorded["train"]), True
    model, cfg = preset("tiny")
    steps = max(8, int(minutes * 60 / seconds_per_step(spec, cfg.batch_size)))
    cfg = replace(cfg, {"max_steps": steps, "sample_every": max(1, steps // 6),
                        "checkpoint_every": max(1, steps // 4)})
    return model, cfg, False


def train_section(data: Path, run: Path, minutes: float) -> Section:
    spec = read_spec(data)
    model, cfg, resume = _configs(run, spec, minutes)
    print(f"demo: training a tiny {' → '.join(spec.names)} workflow on {data} for {cfg.max_steps} steps "
          f"(about {minutes:g} min)" + (", continuing the earlier demo" if resume else ""))
    t0 = time.perf_counter()
    train(data, run, model, cfg, resume=resume, options={"preset": "tiny"})
    latest = sorted((run / "samples").glob("step-*.png"))[-1]
    return Section("Train: a tiny workflow on this machine",
                   f"{cfg.max_steps} steps ({time.perf_counter() - t0:.0f} s here); a few minutes only show "
                   "that training works (the bundled model trained for hours).",
                   [Figure(f"{run.name}/samples/{latest.name}", f"training samples at {latest.stem}")],
                   links=[(f"{run.name}/index.html", "all training samples over time")])


def run_demo(out: str | Path = "runs/demo", minutes: float = 3.0, data: str | Path | None = None,
             model: str | Path = DEMO_MODEL) -> Path:
    """Create and edit with ``model``, train (or continue the demo in ``out``), then write the page. A
    folder that holds anything but an earlier demo is refused."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, not a folder; give --out a new folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "run" / RUN_FILE).is_file():
        raise OutputError(f"{out}: folder is not empty and holds no earlier demo; give --out a new folder")
    out.mkdir(parents=True, exist_ok=True)
    data = Path(data) if data else default_data(out)
    model = Path(model)
    sections = []
    if read_spec(data).names == read_model_config(model)[0].names:
        print(f"demo: creating and editing with the bundled model {model}")
        sections += [create_section(model, data, out / "create"), edit_section(model, data, out / "edit")]
    sections.append(train_section(data, out / "run", minutes))
    page = write_page(out / "index.html", "artworkflow demo", sections)
    print(f"demo: done. Open {page.resolve()}")
    return page
