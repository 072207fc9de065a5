"""The main job end to end on bundled data: train a tiny workflow for a few minutes, then write
generation grids and one page that shows everything."""
from __future__ import annotations

import html
import time
from pathlib import Path

import torch

from .config import WorkflowSpec, model_config_from_dict, preset, replace, train_config_from_dict
from .data.layout import image_path, list_ids, read_spec
from .data.toy import make_toy_dataset
from .errors import OutputError
from .generate import write_generation
from .train import objectives as O
from .train.checkpoint import RUN_FILE, latest_checkpoint, read_run_config
from .train.loop import train
from .workflow import Discriminators, Workflow


def default_data(out: Path) -> Path:
    """The bundled real sample when the package ships it, else a procedural dataset."""
    try:
        from .data.sample import bundled_sample_path
        path = bundled_sample_path()
        if (path / "workflow.yaml").is_file():
            return path
    except ImportError:
        pass
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


def run_demo(out: str | Path = "runs/demo", minutes: float = 4.0, data: str | Path | None = None) -> Path:
    """Train (or continue the demo in ``out``), then write its pages. A folder that holds anything but
    an earlier demo is refused."""
    out = Path(out)
    run = out / "run"
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, not a folder; give --out a new folder")
    if out.is_dir() and any(out.iterdir()) and not (run / RUN_FILE).is_file():
        raise OutputError(f"{out}: folder is not empty and holds no earlier demo; give --out a new folder")
    out.mkdir(parents=True, exist_ok=True)
    data = Path(data) if data else default_data(out)
    spec = read_spec(data)
    model, cfg, resume = _configs(run, spec, minutes)
    print(f"demo: training a tiny {' → '.join(spec.names)} workflow on {data} for {cfg.max_steps} steps "
          f"(about {minutes:g} min)" + (", continuing the earlier demo" if resume else ""))
    train(data, run, model, cfg, resume=resume, options={"preset": "tiny"})
    split = "test" if (data / "test").is_dir() else "train"
    first = image_path(data, split, spec.names[0], list_ids(data, split)[0])
    write_generation(run, first, out / "generate", variations=5, overwrite=True)  # the demo's own pages
    page = out / "index.html"
    page.write_text(
        "<!doctype html><meta charset='utf-8'><title>artworkflow demo</title>"
        "<style>body{font-family:sans-serif;margin:2em}</style><h1>artworkflow demo</h1><ul>"
        f"<li><a href='run/index.html'>training samples over time</a> ({cfg.max_steps} steps)</li>"
        f"<li><a href='generate/index.html'>variations at every stage</a> from "
        f"{html.escape(first.name)}</li></ul>")
    print(f"demo: done. Open {page.resolve()}")
    return page
