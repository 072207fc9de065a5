"""How real the generated stages look at the artwork's own size.

The model generates from each test first stage at its own resolution; its stages are brought to the
size of the data in two ways, plain bicubic upsampling of the model's output and ``fullsize``'s
rendering from the full-size first stage, and each generated stage is scored by SWD (at the data's
size) against the real training images of that stage. The real test images of the stage give the
floor: how far a set of real artwork is from the reference."""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .data.dataset import StageDataset
from .data.images import make_grid, read_size, save_image
from .data.layout import read_spec
from .errors import ConfigError
from .fullsize.render import render_stages
from .metrics.swd import swd_descriptors, swd_from_descriptors, swd_resolutions
from .outputs import OutputFolder
from .pipeline import WorkflowPipeline
from .workflow import check_same_workflow, read_model_config, resolve_model_dir

RESULT_FILES = ("results.json", "results.md")
GRID_ITEMS = 4
"""Test items shown in each grid, spread evenly over the test set."""
METHODS = ("bicubic", "fullsize")


def _load(data: str | os.PathLike, split: str, limit: int | None) -> list[Tensor]:
    """Every stage of the first ``limit`` items of a split at the data's own (square) size."""
    probe = StageDataset(data, split, train=False)
    first = probe.paths(0)[0]
    height, width = read_size(first)
    if width != height:
        raise ConfigError(f"{first} is {width}x{height}; the full-size evaluation takes square data (build the "
                          "dataset at one size)")
    ds = StageDataset(data, split, resolution=width, train=False)
    n = len(ds) if limit is None else min(limit, len(ds))
    items = [ds[i] for i in range(n)]
    return [torch.stack([it[s] for it in items]) for s in range(ds.spec.n_stages)]


def bicubic(stage: Tensor, size: tuple[int, int]) -> Tensor:
    """The model's stage (B, C, R, R) upsampled to ``size`` by bicubic interpolation."""
    return F.interpolate(stage.float(), size=size, mode="bicubic", align_corners=False).clamp(-1, 1)


def generate(pipe: WorkflowPipeline, first: Tensor, seed: int,
             progress: Callable[[], None] = lambda: None) -> tuple[dict[str, list[Tensor]], float]:
    """Both methods' stages (B, C, H, W) for full-size first stages ``first``, and the seconds the
    full-size rendering took per item."""
    model = pipe.sample(pipe.prepare(first, 0), seed)
    size = tuple(first.shape[-2:])
    kinds = pipe.workflow.spec.kinds
    rendered, seconds = [], 0.0
    for b in range(first.shape[0]):
        t0 = time.perf_counter()
        rendered.append(render_stages(first[b], [s[b] for s in model], kinds))
        seconds += time.perf_counter() - t0
        progress()
    out = {"bicubic": [first] + [bicubic(s.cpu(), size) for s in model[1:]],
           "fullsize": [torch.stack([r[s] for r in rendered]) for s in range(len(model))]}
    return out, seconds / first.shape[0]


def _swd(images: Tensor, reference: list[Tensor], seed: int) -> float:
    levels = swd_resolutions(*images.shape[-2:])
    return swd_from_descriptors(swd_descriptors(images, seed), reference, seed, resolutions=levels)["swd_avg"]


def _grid(rows: list[Tensor], generated: dict[str, list[Tensor]], real: list[Tensor], stage: int) -> Tensor:
    """Line | bicubic | full size | real, one row per item of ``rows``."""
    return make_grid([[real[0][i], generated["bicubic"][stage][i], generated["fullsize"][stage][i],
                       real[stage][i]] for i in rows])


def evaluate_fullsize(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
                      seeds: int = 3, limit: int | None = None, reference_limit: int | None = 1000,
                      device: str = "cpu", overwrite: bool = False, progress: bool = True,
                      log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score both methods per generated stage over ``seeds`` seeds; write results.json, results.md and
    one grid per generated stage into ``out``; return the results."""
    t_start = time.perf_counter()
    folder = OutputFolder(out, overwrite)
    pipe = WorkflowPipeline.from_pretrained(model, device=device)
    names = pipe.names
    folder.check([*RESULT_FILES, *(f"grid-{n}.png" for n in names[1:])])
    check_same_workflow(read_spec(data), data, read_model_config(resolve_model_dir(model))[0], model)
    test, train = _load(data, "test", limit), _load(data, "train", reference_limit)
    log(f"evaluate-fullsize: {test[0].shape[0]} test items, {train[0].shape[0]} reference items at "
        f"{test[0].shape[-1]} px, {seeds} seeds")
    refs = {s: swd_descriptors(train[s], 0) for s in range(1, len(names))}
    scores: dict[str, dict[str, list[float]]] = {n: {m: [] for m in METHODS} for n in names[1:]}
    seconds, shown = [], None
    from tqdm import tqdm
    with tqdm(total=seeds * test[0].shape[0], desc="evaluate-fullsize", disable=not progress) as bar:
        for seed in range(seeds):
            generated, per_item = generate(pipe, test[0], seed, lambda: bar.update(1))
            seconds.append(per_item)
            for s in range(1, len(names)):
                for m in METHODS:
                    scores[names[s]][m].append(_swd(generated[m][s], refs[s], seed))
            shown = shown or generated
    rows = _rows(scores, {names[s]: _swd(test[s], refs[s], 0) for s in range(1, len(names))})
    meta = {"model": str(model), "data": str(data), "test_items": int(test[0].shape[0]),
            "reference_items": int(train[0].shape[0]), "size": int(test[0].shape[-1]), "seeds": seeds,
            "render_seconds_per_item": round(statistics.fmean(seconds), 4),
            "seconds": round(time.perf_counter() - t_start, 1)}
    picks = torch.linspace(0, test[0].shape[0] - 1, min(GRID_ITEMS, test[0].shape[0])).round().long().tolist()
    with folder as staging:
        for s in range(1, len(names)):
            save_image(_grid(picks, shown, test, s), staging / f"grid-{names[s]}.png")
        write_results(staging, rows, meta)
    return {"meta": meta, "rows": rows}


def _rows(scores: dict[str, dict[str, list[float]]], floor: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for stage, by_method in scores.items():
        row: dict[str, Any] = {"stage": stage, "floor_swd": floor[stage]}
        for m, values in by_method.items():
            row[f"{m}_swd"] = statistics.fmean(values)
            row[f"{m}_swd_per_seed"] = values
        row["ratio"] = row["fullsize_swd"] / row["bicubic_swd"]
        rows.append(row)
    return rows


def write_results(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    table = ["| stage | real test (floor) | bicubic | full size | full size / bicubic |", "|---|---|---|---|---|"]
    table += [f"| {r['stage']} | {r['floor_swd']:.2f} | {r['bicubic_swd']:.2f} | {r['fullsize_swd']:.2f} | "
              f"{r['ratio']:.3f} |" for r in rows]
    text = (f"# Generated stages at the artwork's own size\n\nModel `{meta['model']}`, data `{meta['data']}`: "
            f"{meta['test_items']} test items, {meta['reference_items']} real training items as the reference, "
            f"{meta['size']} px, {meta['seeds']} seeds; SWD (× 1e3, mean over seeds, lower is better). "
            f"Full-size rendering took {meta['render_seconds_per_item']:.3f} s per item.\n\n"
            + "\n".join(table) + "\n\nGrids (seed 0): line | bicubic | full size | real, in grid-<stage>.png.\n")
    (out / "results.md").write_text(text)
