"""Does borrowing a stage from another artwork carry that artwork's look?

Every test item's first stage is drawn with the latent of one stage borrowed from the next test
item's finished artwork (item ``(i + 1) mod n``; ``WorkflowPipeline.borrow_latent``), and, for
comparison, with a random latent of a fixed seed. The measure is the colour distance between the
generated stage and the reference item's *real* stage: the ℓ1 distance between their normalised
colour histograms (``BINS`` bins per channel, so 8³ cells for RGB, ranging from 0 to 2), each taken
over the pixels that are not background, background being near-white in the item's real stage. A
borrowing that works makes the borrowed stage closer to the reference than the random one."""
from __future__ import annotations

import json
import os
import statistics
from typing import Any, Callable

import torch
from torch import Tensor

from .data.dataset import StageDataset
from .data.images import make_grid, save_image
from .errors import ConfigError
from .outputs import OutputFolder
from .pipeline import WorkflowPipeline
from .workflow import check_same_workflow

BINS = 8
WHITE = 0.94
"""A pixel is background when every channel is at least this (in [0, 1]) in the real image."""
RESULT_FILES = ("results.json", "results.md", "grid.png")
GRID_ROWS = 8
BATCH = 32


def foreground(image: Tensor) -> Tensor:
    """(H, W) mask of the pixels of a (C, H, W) image in [-1, 1] that are not near-white."""
    return ~((image + 1) / 2 >= WHITE).all(0)


def colour_histogram(image: Tensor, mask: Tensor, bins: int = BINS) -> Tensor:
    """The normalised joint histogram (bins^C cells) of a (C, H, W) image's colours under ``mask``
    (every pixel when the mask is empty)."""
    cells = (((image.float() + 1) / 2).clamp(0, 1) * bins).long().clamp(max=bins - 1)
    index = torch.zeros_like(cells[0])
    for channel in cells:
        index = index * bins + channel
    chosen = index[mask] if bool(mask.any()) else index.flatten()
    counts = torch.bincount(chosen.flatten().cpu(), minlength=bins ** image.shape[0]).float()
    return counts / counts.sum()


def colour_distance(generated: Tensor, generated_mask: Tensor, real: Tensor, real_mask: Tensor) -> float:
    """ℓ1 between the colour histograms of two (C, H, W) images, each over its own foreground."""
    return float((colour_histogram(generated, generated_mask) - colour_histogram(real, real_mask)).abs().sum())


@torch.no_grad()
def _draw(pipe: WorkflowPipeline, first: Tensor, zs: list[Tensor], stage: int) -> Tensor:
    """Stage ``stage`` of the workflows of a batch of first stages, in chunks of ``BATCH``."""
    parts = [pipe.generate(first[a:a + BATCH].to(pipe.workflow.device), [z[a:a + BATCH] for z in zs])[stage].cpu()
             for a in range(0, first.shape[0], BATCH)]
    return torch.cat(parts)


def _borrowed(pipe: WorkflowPipeline, finals: Tensor, stage: int) -> Tensor:
    return torch.cat([pipe.borrow_latent(stage, finals[a:a + BATCH]) for a in range(0, finals.shape[0], BATCH)])


def measure(pipe: WorkflowPipeline, items: list[list[Tensor]], stage: int, seeds: list[int]
            ) -> tuple[list[dict[str, Any]], dict[int, tuple[Tensor, Tensor]]]:
    """Per seed, the distances of every pair (item i drawn with item i+1's stage); also the borrowed and
    random stages drawn with each seed, for the grid."""
    n, k = len(items), stage - 1
    first = torch.stack([it[0] for it in items])
    finals = torch.stack([it[-1] for it in items])
    real = [it[stage] for it in items]
    masks = [foreground(r) for r in real]
    reference = [(i + 1) % n for i in range(n)]
    borrowed_z = _borrowed(pipe, finals, stage)[reference]
    rows, drawn = [], {}
    for seed in seeds:
        zs = pipe.latents(n, seed)
        random_stage = _draw(pipe, first, zs, stage)
        zs[k] = borrowed_z.to(zs[k])
        borrowed_stage = _draw(pipe, first, zs, stage)
        for i, j in enumerate(reference):
            rows.append({"seed": seed, "item": i, "reference": j,
                         "borrowed": colour_distance(borrowed_stage[i], masks[i], real[j], masks[j]),
                         "random": colour_distance(random_stage[i], masks[i], real[j], masks[j])})
        drawn[seed] = (borrowed_stage, random_stage)
    return rows, drawn


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The share of pairs where the borrowed stage is closer to the reference, per seed and over seeds."""
    per_seed = {}
    for seed in sorted({r["seed"] for r in rows}):
        mine = [r for r in rows if r["seed"] == seed]
        per_seed[str(seed)] = {"share_borrowed_closer": statistics.fmean(r["borrowed"] < r["random"] for r in mine),
                               "mean_borrowed": statistics.fmean(r["borrowed"] for r in mine),
                               "mean_random": statistics.fmean(r["random"] for r in mine)}
    shares = [s["share_borrowed_closer"] for s in per_seed.values()]
    return {"per_seed": per_seed, "share_mean": statistics.fmean(shares), "share_min": min(shares),
            "share_max": max(shares), "pairs": len(rows) // len(per_seed)}


def _markdown(summary: dict[str, Any], options: dict[str, Any]) -> str:
    lines = [f"# Borrowing '{options['stage']}' from another artwork: {options['data']}", "",
             f"{summary['pairs']} pairs: each test item's {options['first']} drawn with the '{options['stage']}' "
             "latent of the next item's finished artwork, against a random latent of each seed. Distance: ℓ1 "
             f"between normalised colour histograms ({BINS} bins per channel) of the generated stage and the "
             f"reference's real stage, over pixels not near-white (every channel ≥ {WHITE}) in the real stage.", "",
             "| seed | share of pairs, borrowed closer | mean distance, borrowed | mean distance, random |",
             "|---|---|---|---|"]
    for seed, s in summary["per_seed"].items():
        lines.append(f"| {seed} | {s['share_borrowed_closer']:.3f} | {s['mean_borrowed']:.3f} "
                     f"| {s['mean_random']:.3f} |")
    lines += ["", f"Share over seeds: mean {summary['share_mean']:.3f}, from {summary['share_min']:.3f} "
              f"to {summary['share_max']:.3f}. grid.png: {options['first']} | reference | borrowed | random "
              f"(seed {options['seeds'][0]})."]
    return "\n".join(lines) + "\n"


def _grid(items: list[list[Tensor]], drawn: tuple[Tensor, Tensor], rows: int) -> Tensor:
    """first stage | reference | borrowed | random, for ``rows`` pairs spread over the items."""
    n = len(items)
    picked = sorted({i * n // rows for i in range(min(rows, n))})
    return make_grid([[items[i][0], items[(i + 1) % n][-1], drawn[0][i], drawn[1][i]] for i in picked])


def evaluate_borrow(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike,
                    stage: str | None = None, seeds: int = 3, limit: int | None = None, device: str = "cpu",
                    overwrite: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure borrowing ``stage`` (default: the first generated stage) on the test items of ``data``;
    write ``results.json``, ``results.md`` and ``grid.png``."""
    pipe = WorkflowPipeline.from_pretrained(model, device)
    ds = StageDataset(data, "test", resolution=pipe.resolution, train=False)
    check_same_workflow(ds.spec, data, pipe.workflow.spec, model)
    s = pipe.workflow.stage_index(stage if stage is not None else 1)
    if s == 0:
        raise ConfigError(f"--stage {pipe.names[0]}: the first stage is drawn, not generated; "
                          f"pick one of {', '.join(pipe.names[1:])}")
    n = len(ds) if limit is None else min(limit, len(ds))
    if n < 2:
        raise ConfigError(f"{data}: {n} test item(s); borrowing needs at least 2 (pairs of different items)")
    folder = OutputFolder(out, overwrite)
    folder.check(RESULT_FILES)
    items = [ds[i] for i in range(n)]
    rows, drawn = measure(pipe, items, s, list(range(seeds)))
    summary = summarise(rows)
    options = {"model": str(model), "data": str(data), "stage": pipe.names[s], "first": pipe.names[0],
               "items": n, "seeds": list(range(seeds)), "bins": BINS, "white": WHITE}
    log(f"evaluate-borrow: borrowed '{pipe.names[s]}' closer to the reference than random in "
        f"{summary['share_mean']:.1%} of {n} pairs (seeds: {summary['share_min']:.1%} to {summary['share_max']:.1%})")
    with folder as staging:
        (staging / "results.json").write_text(json.dumps({"options": options, "summary": summary, "pairs": rows},
                                                         indent=2))
        (staging / "results.md").write_text(_markdown(summary, options))
        save_image(_grid(items, drawn[0], GRID_ROWS), staging / "grid.png")
    return summary
