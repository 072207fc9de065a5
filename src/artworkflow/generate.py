"""Fig. 5 of the paper as files: from one first-stage image, variations at each stage."""
from __future__ import annotations

import json
import os
from pathlib import Path

from typing import Callable, Mapping

import torch

from .config import SEED, check_range
from .data.images import make_grid, save_image
from .data.sample import DEMO_MODEL
from .errors import ArtworkflowError, ConfigError
from .fullsize.canvas import MAX_SIZE
from .metrics.diversity import mean_pairwise, real_spread
from .outputs import OutputFolder
from .pipeline import WorkflowPipeline
from .report.layers import write_layers
from .report.page import Figure, Section, write_page

SIZES = ("full", "model")
"""``--size``: stages at the input's own size, or at the model's resolution."""


def _real_stage_spread(model: str | os.PathLike, stage: str, channels: int, resolution: int) -> float | None:
    """Mean pairwise ℓ1 between real test items of ``stage`` of the data the run was trained on (None when
    the model folder does not say which data that was, or it is gone)."""
    from .data.dataset import StageDataset
    from .train.checkpoint import read_run_config
    from .workflow import resolve_model_dir
    run = resolve_model_dir(model).parent
    try:
        data = read_run_config(run)["data"]
        ds = StageDataset(data, "test", resolution=resolution, train=False)
    except (OSError, ValueError, KeyError, TypeError, ArtworkflowError):
        return None  # a missing or moved dataset only drops the relative figure
    k = ds.spec.names.index(stage) if stage in ds.spec.names else None
    if k is None or len(ds) < 2 or ds.spec.channels[k] != channels:
        return None
    return real_spread(torch.stack([ds[i][k] for i in range(min(len(ds), 32))]))


def borrowed_latents(pipe: WorkflowPipeline, references: Mapping[str, str | os.PathLike]) -> dict[int, torch.Tensor]:
    """Generation stage index -> the latent ``pipe.borrow_latent`` takes from each reference artwork
    (``--reference STAGE=IMAGE``); a bad stage or image is refused naming the option."""
    fixed = {}
    for stage, image in references.items():
        try:
            z = pipe.borrow_latent(stage, image)
        except ArtworkflowError as e:
            detail = str(e).removeprefix(f"{image}: ")
            raise type(e)(f"--reference {stage}={image}: {detail}") from None
        fixed[pipe.workflow.stage_index(stage) - 1] = z
    return fixed


def random_seed(seed: int, k: int) -> int:
    """The seed of the k-th (1-based) random workflow of ``random.png`` and ``workflow-<k>/``."""
    return seed * 1000 + 499 + k


def write_generation(model: str | os.PathLike | None, input_image: str | os.PathLike, out: str | os.PathLike,
                     variations: int = 5, seed: int = 0, device: str = "cpu", overwrite: bool = False,
                     size: str = "full", max_size: int = MAX_SIZE, notice: Callable[[str], None] | None = None,
                     layers: tuple[str, ...] = (), workflow_seeds: list[int] | None = None,
                     references: Mapping[str, str | os.PathLike] | None = None) -> Path:
    """Write ``workflow-<k>/<stage>.png`` for the ``variations`` random workflows (every stage at the
    input's own size, or the model's with ``size="model"``), ``stage-<name>.png`` for every generated
    stage (each row one workflow in which only that stage's latent changes), ``random.png`` (the random
    workflows at the model's size), an ``index.html`` showing them and ``diversity.json``: per stage,
    the mean pairwise ℓ1 between its variations and, when the run's data is at hand, that over the mean
    pairwise ℓ1 between different real items of the stage, and ``generation.json`` (input, seed, references).
    ``references`` (stage name -> a finished artwork) gives each such stage, in every workflow written, the
    latent borrowed from that artwork instead of a random one (``borrowed_latents``; its own grid still
    varies it). ``layers`` (``ora``, ``psd``) adds each random workflow as ``workflow-<k>.<format>``, a
    layered file; ``workflows.json`` names the seed of every workflow (``pipeline.sample(first, seed)``
    draws it again), and ``workflow_seeds`` writes the workflows of those seeds instead of ``variations``
    new ones. ``model`` None is the bundled model. Files already in ``out`` are refused unless
    ``overwrite``; nothing is written if a step fails."""
    if variations < 1:
        raise ConfigError(f"variations is {variations}; it must be an integer >= 1")
    if size not in SIZES:
        raise ConfigError(f"size is {size!r}; use one of {', '.join(SIZES)}")
    check_range("seed", seed, SEED)
    for z in workflow_seeds or []:
        check_range("workflow seed", z, SEED)
    model = DEMO_MODEL if model is None else model
    pipe = WorkflowPipeline.from_pretrained(model, device)
    first = pipe.load_full(input_image, 0, max_size, notice)
    x1 = pipe.prepare(first, 0)
    references = {stage: str(image) for stage, image in (references or {}).items()}
    fixed = borrowed_latents(pipe, references)
    names = pipe.names
    folder = OutputFolder(out, overwrite)
    files = [(f"stage-{n}.png", f"variations of '{n}' (stage {i + 2}); earlier stages fixed")
             for i, n in enumerate(names[1:])] + [("random.png", "every stage re-sampled")]
    count = len(workflow_seeds) if workflow_seeds else variations
    workflows = [f"workflow-{k}/{n}.png" for k in range(1, count + 1) for n in names]
    workflows += [f"workflow-{k}.{f}" for k in range(1, count + 1) for f in layers]
    folder.check([f for f, _ in files] + workflows + ["index.html", "diversity.json", "workflows.json",
                                                      "generation.json"])
    diversity = {}
    with folder as staging:
        for i in range(len(names) - 1):
            rows = [[s[0].cpu() for s in wf] for wf in pipe.stage_variations(x1, i, variations, seed, fixed)]
            spread = mean_pairwise(torch.stack([r[i + 1] for r in rows])) if variations > 1 else 0.0
            real = _real_stage_spread(model, names[i + 1], rows[0][i + 1].shape[0], pipe.resolution)
            diversity[names[i + 1]] = {"l1_variations": spread, "l1_real": real,
                                       "l1_relative": None if not real else spread / real}
            save_image(make_grid(rows), staging / files[i][0])
        seeds = workflow_seeds or [random_seed(seed, k) for k in range(1, variations + 1)]
        records = _write_workflows(pipe, first, x1, seeds, fixed, size, layers, staging)
        full = [Section(f"workflow {r['workflow']} (seed {r['seed']}): {' → '.join(names)} at "
                        f"{'the input' if size == 'full' else 'the model'}'s size",
                        figures=[Figure(f) for f in r["stages"].values()]) for r in records]
        write_page(staging / "index.html", f"Columns: {' → '.join(names)}",
                   full + [Section(cap, figures=[Figure(f)]) for f, cap in files])
        (staging / "diversity.json").write_text(json.dumps(diversity, indent=2))
        (staging / "workflows.json").write_text(json.dumps(records, indent=2))
        record = {"input": str(input_image), "seed": seed, "variations": variations, "references": references}
        (staging / "generation.json").write_text(json.dumps(record, indent=2))
    return Path(out)


def _write_workflows(pipe: WorkflowPipeline, first: torch.Tensor, x1: torch.Tensor, seeds: list[int],
                     fixed: Mapping[int, torch.Tensor] | None, size: str, layers: tuple[str, ...],
                     staging: Path) -> list[dict]:
    """Write the random workflow of each seed as ``workflow-<k>/<stage>.png`` (and layered files), and
    ``random.png`` at the model's size (``x1``: ``first`` as the model takes it); returns what names
    each file: workflow, seed, stage."""
    names, records = pipe.names, []
    rows = [[s[0].cpu() for s in pipe.sample(x1, z, fixed)] for z in seeds]
    save_image(make_grid(rows), staging / "random.png")
    regions = pipe.regions(first) if size == "full" else None
    for k, (z, row) in enumerate(zip(seeds, rows), 1):
        stages = pipe.render_full(first, row, regions) if size == "full" else row
        for name, img in zip(names, stages):
            save_image(img, staging / f"workflow-{k}" / f"{name}.png")
        for f in layers:
            write_layers(staging / f"workflow-{k}.{f}", stages, names, pipe.workflow.spec.kinds)
        records.append({"workflow": k, "seed": z, "stages": {n: f"workflow-{k}/{n}.png" for n in names},
                        "layers": [f"workflow-{k}.{f}" for f in layers]})
    return records
