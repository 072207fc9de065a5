"""Full-size rendering speed as JSON: the seconds ``fullsize.render_stages`` adds to a generated
workflow at 1024 px (and other sizes), beside the model's own sampling time.

The bundled model samples from each Fluent test line art (rendered to 1024 px from the 256 px data by
bilinear interpolation, which keeps the strokes' shapes); the rendering of every stage at that size is
timed separately. Run with one thread (the default here) to measure what one core adds:

    python benchmarks/fullsize_speed.py                          # 1024 px, 8 items, 3 rounds
    python benchmarks/fullsize_speed.py --sizes 512 1024 2048 --items 4
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import artworkflow  # noqa: E402,F401  (first: sets passive OpenMP waiting before torch loads)
import torch  # noqa: E402

from artworkflow.data.images import load_image, resize  # noqa: E402
from artworkflow.fullsize.render import render_stages  # noqa: E402
from artworkflow.pipeline import WorkflowPipeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "src" / "artworkflow" / "assets" / "demo-model"


def line_arts(data: Path, items: int) -> list[torch.Tensor]:
    files = sorted((data / "test" / "line").glob("*.png"))[:items]
    if not files:
        raise SystemExit(f"{data / 'test' / 'line'}: no line art; pass --data with a Fluent dataset")
    return [load_image(f, 1) for f in files]


def time_size(pipe: WorkflowPipeline, lines: list[torch.Tensor], size: int, rounds: int) -> dict:
    """Median seconds per item of the model's sampling and of the full-size rendering."""
    kinds = pipe.workflow.spec.kinds
    sample_s, render_s = [], []
    for _ in range(rounds):
        for i, line in enumerate(lines):
            first = resize(line, size)
            t0 = time.perf_counter()
            stages = pipe.sample(pipe.prepare(first, 0), i)
            t1 = time.perf_counter()
            render_stages(first, stages, kinds)
            t2 = time.perf_counter()
            sample_s.append(t1 - t0)
            render_s.append(t2 - t1)
    return {"size": size, "items": len(lines), "rounds": rounds,
            "sample_s_median": round(statistics.median(sample_s), 4),
            "render_s_median": round(statistics.median(render_s), 4),
            "render_s_max": round(max(render_s), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("data/fluent256"), help="Fluent dataset (test/line/*.png)")
    p.add_argument("--sizes", type=int, nargs="+", default=[1024])
    p.add_argument("--items", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    pipe = WorkflowPipeline.from_pretrained(MODEL)
    lines = line_arts(a.data, a.items)
    render_stages(resize(lines[0], 256), pipe.sample(pipe.prepare(lines[0], 0), 0), pipe.workflow.spec.kinds)
    print(json.dumps({"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                      "results": [time_size(pipe, lines, s, a.rounds) for s in a.sizes]}, indent=2))


if __name__ == "__main__":
    main()
