"""Generation-training speed per preset and precision, as JSON.

One iteration = the generator/encoder step and the discriminator step of every generation stage
of a 3-stage (1, 3, 3 channels) workflow, the work the paper's joint/separate generation training
repeats. Also compares the loss curve of fp32 and bf16 autocast from the same start.

    python benchmarks/train_speed.py                       # tiny, small, paper; fp32 and bf16
    python benchmarks/train_speed.py --presets paper --iters 3
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time

import artworkflow  # noqa: F401  (first: sets passive OpenMP waiting before torch loads)
import torch

from artworkflow.config import StageSpec, WorkflowSpec, preset
from artworkflow.train import objectives as O
from artworkflow.workflow import Discriminators, Workflow

SPEC = WorkflowSpec("bench", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("final", 3)))


def make(preset_name: str, seed: int = 0):
    model, cfg = preset(preset_name)
    torch.manual_seed(seed)
    wf, disc = Workflow(SPEC, model), Discriminators(SPEC, model)
    opt_g = torch.optim.Adam([*wf.generators.parameters(), *wf.encoders.parameters()], lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*disc.encoded.parameters(), *disc.random.parameters()], lr=cfg.lr, betas=(0.5, 0.999))
    wf.inference.requires_grad_(False)
    return model, cfg, wf, disc, opt_g, opt_d


def iteration(wf, disc, opt_g, opt_d, stages, step, cfg, amp: str) -> float:
    ctx = O.StepContext(0, step, torch.arange(stages[0].shape[0]))
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if amp == "bf16" else contextlib.nullcontext()
    disc.requires_grad_(False)
    with cast:
        losses, fakes = O.generation_generator_loss(wf, disc, stages, False, ctx, cfg.loss)
    opt_g.zero_grad(set_to_none=True)
    losses["gen/total"].backward()
    opt_g.step()
    disc.requires_grad_(True)
    with cast:
        d_losses = O.generation_discriminator_loss(disc, fakes)
    opt_d.zero_grad(set_to_none=True)
    d_losses["gen_d/total"].backward()
    opt_d.step()
    return float(losses["gen/total"].detach())


def batch(model, size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    r = model.resolution
    return [torch.rand(size, c, r, r, generator=g) * 2 - 1 for c in SPEC.channels]


def time_preset(name: str, amp: str, batch_size: int, iters: int, warmup: int) -> dict:
    model, cfg, wf, disc, opt_g, opt_d = make(name)
    stages = batch(model, batch_size)
    for s in range(warmup):
        iteration(wf, disc, opt_g, opt_d, stages, s, cfg, amp)
    times = []
    for s in range(iters):
        t0 = time.perf_counter()
        iteration(wf, disc, opt_g, opt_d, stages, warmup + s, cfg, amp)
        times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    return {"preset": name, "resolution": model.resolution, "width": model.width, "amp": amp,
            "batch": batch_size, "s_per_iter_median": round(med, 4), "s_per_iter_min": round(times[0], 4),
            "images_per_s": round(batch_size / med, 3), "iters": iters}


def loss_curves(name: str, steps: int, batch_size: int) -> dict:
    """fp32 and bf16 runs from identical weights and data: relative gap of their loss curves."""
    curves = {}
    for amp in ("none", "bf16"):
        model, cfg, wf, disc, opt_g, opt_d = make(name, seed=1)
        curves[amp] = [iteration(wf, disc, opt_g, opt_d, batch(model, batch_size, seed=s), s, cfg, amp)
                       for s in range(steps)]
    gap = [abs(a - b) / max(abs(a), 1e-8) for a, b in zip(curves["none"], curves["bf16"])]
    return {"preset": name, "steps": steps, "fp32": [round(v, 4) for v in curves["none"]],
            "bf16": [round(v, 4) for v in curves["bf16"]], "max_relative_gap": round(max(gap), 4),
            "mean_relative_gap": round(sum(gap) / len(gap), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=["tiny", "small", "paper"])
    p.add_argument("--amp", nargs="+", default=["none", "bf16"])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--curve-steps", type=int, default=20, help="0 skips the fp32/bf16 loss-curve check")
    p.add_argument("--curve-preset", default="tiny")
    a = p.parse_args()
    rows = [time_preset(n, amp, a.batch, a.iters, a.warmup) for n in a.presets for amp in a.amp]
    ratios = {}
    for n in a.presets:
        by = {r["amp"]: r for r in rows if r["preset"] == n}
        if "none" in by and "bf16" in by:
            ratios[n] = round(by["none"]["s_per_iter_median"] / by["bf16"]["s_per_iter_median"], 3)
    out = {"benchmark": "generation_training", "stages": SPEC.channels, "torch": torch.__version__,
           "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
           "results": rows, "bf16_speedup": ratios}
    if a.curve_steps:
        out["loss_curve"] = loss_curves(a.curve_preset, a.curve_steps, a.batch)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
