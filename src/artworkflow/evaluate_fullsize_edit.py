"""How much of the artwork an edit at full size keeps.

Each finished test artwork, at the data's own size, is decomposed and reconstructed (the default
edit: AdaIN optimisation with ``auto`` regularisation), then its first colour stage is re-sampled.
The edited final stage at full size is compared with the input artwork by the correlation of their
gradient magnitudes (do the lines and details stay where they were?), against plain bicubic
upsampling of the model's edited final stage; and with the model's edit, downsampled, by ℓ1 (do the
colours follow the edit?)."""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor

from .data.dataset import StageDataset
from .data.images import make_grid, read_size, save_image
from .editing.session import EditSession
from .errors import ConfigError
from .outputs import OutputFolder
from .pipeline import WorkflowPipeline

RESULT_FILES = ("results.json", "results.md")
GRID_ITEMS = 4


def gradient_correlation(a: Tensor, b: Tensor) -> float:
    """Pearson correlation of the Sobel gradient magnitudes of two (C, H, W) images (grey)."""
    def magnitude(x: Tensor) -> np.ndarray:
        g = x.float().mean(0).cpu().numpy()
        return np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1)).ravel()
    return float(np.corrcoef(magnitude(a), magnitude(b))[0, 1])


def _down(image: Tensor, size: int) -> Tensor:
    return F.interpolate(image[None].float(), size=(size, size), mode="area")[0]


def measure_item(pipe: WorkflowPipeline, artwork: Tensor, seeds: list[int],
                 steps: int) -> tuple[list[dict[str, float]], list[Tensor]]:
    """One artwork, re-sampled once per seed at its first colour stage: the scores of each edit, and the
    first edit's grid row (input | bicubic of the model's edit | the edited flat and final at full size)."""
    wf, res = pipe.workflow, pipe.resolution
    session = EditSession.from_artwork(wf, artwork, steps=steps, networks=pipe.edit_networks(None), progress=False)
    stage = wf.spec.names[1]
    rows, shown = [], []
    for seed in seeds:
        session.resample(stage, seed)
        full = session.full_stages()
        ours = full[-1]
        model = session.stages[-1][0].float().cpu()
        plain = F.interpolate(model[None], size=ours.shape[-2:], mode="bicubic", align_corners=False)[0].clamp(-1, 1)
        rows.append({"fullsize": gradient_correlation(ours, artwork), "bicubic": gradient_correlation(plain, artwork),
                     "colour_l1_fullsize": float((_down(ours, res) - model).abs().mean()),
                     "colour_l1_unedited": float((_down(artwork, res) - model).abs().mean())})
        shown = shown or [artwork, plain, full[1], ours]
        session.undo()
    return rows, shown


def _summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    keys = rows[0].keys()
    out: dict[str, Any] = {k: {"mean": statistics.fmean(r[k] for r in rows),
                               "median": statistics.median(r[k] for r in rows)} for k in keys}
    out["share_fullsize_above_bicubic"] = statistics.fmean(r["fullsize"] > r["bicubic"] for r in rows)
    out["share_fullsize_at_least_0.8"] = statistics.fmean(r["fullsize"] >= 0.8 for r in rows)
    out["edits"] = len(rows)
    return out


def _markdown(summary: dict[str, Any], options: dict[str, Any]) -> str:
    lines = [f"# Editing at full size: {options['data']}", "",
             f"{summary['edits']} edits: {options['items']} test artworks × {len(options['seeds'])} seeds, "
             f"the first colour stage re-sampled after {options['steps']} optimisation steps per stage.", "",
             "| measure | mean | median |", "|---|---|---|"]
    names = {"fullsize": "gradient correlation with the input, full-size edit ↑",
             "bicubic": "gradient correlation with the input, bicubic of the model's edit ↑",
             "colour_l1_fullsize": "ℓ1 to the model's edit (model size), full-size edit ↓",
             "colour_l1_unedited": "ℓ1 to the model's edit (model size), the unedited input ↓"}
    for key, name in names.items():
        lines.append(f"| {name} | {summary[key]['mean']:.4f} | {summary[key]['median']:.4f} |")
    lines += ["", f"Share of edits whose full-size correlation is above bicubic's: "
              f"{summary['share_fullsize_above_bicubic']:.3f}; at least 0.8: {summary['share_fullsize_at_least_0.8']:.3f}."]
    return "\n".join(lines) + "\n"


def evaluate_fullsize_edit(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike,
                           seeds: int = 3, steps: int = 150, limit: int | None = None, device: str = "cpu",
                           overwrite: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score full-size edits of every test artwork of ``data`` (square images at the size to edit at);
    write ``results.json``, ``results.md`` and ``grid.png`` (seed 0 of a few artworks, ``measure_item``'s row)."""
    probe = StageDataset(data, "test", train=False)
    height, width = read_size(probe.paths(0)[-1])
    if width != height:
        raise ConfigError(f"{probe.paths(0)[-1]} is {width}x{height}; give square data built at one size")
    ds = StageDataset(data, "test", resolution=width, train=False)
    pipe = WorkflowPipeline.from_pretrained(model, device)
    folder = OutputFolder(out, overwrite)
    folder.check([*RESULT_FILES, "grid.png"])
    n = len(ds) if limit is None else min(limit, len(ds))
    rows, grid, t0 = [], [], time.perf_counter()
    for i in range(n):
        artwork = ds[i][-1]
        scores, shown = measure_item(pipe, artwork, list(range(seeds)), steps)
        rows += scores
        if i % max(1, n // GRID_ITEMS) == 0 and len(grid) < GRID_ITEMS:
            grid.append(shown)
        if (i + 1) % 10 == 0:
            log(f"evaluate-fullsize-edit: {i + 1}/{n} artworks, {time.perf_counter() - t0:.0f} s")
    options = {"model": str(model), "data": str(data), "items": n, "seeds": list(range(seeds)), "steps": steps,
               "size": width, "seconds": round(time.perf_counter() - t0, 1)}
    summary = _summary(rows)
    with folder as staging:
        (staging / "results.json").write_text(json.dumps({"options": options, "summary": summary,
                                                          "edits": rows}, indent=2))
        (staging / "results.md").write_text(_markdown(summary, options))
        save_image(make_grid(grid), staging / "grid.png")
    return summary

