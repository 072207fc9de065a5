"""Generation-training speed per preset and precision, as JSON.

One iteration = the generator/encoder step and the discriminator step of every generation stage
of a 3-stage (1, 3, 3 channels) workflow, the work the paper's joint/separate generation training
repeats. Also compares the loss curve of fp32 and bf16 autocast from the same start. Variants are
timed round by round and a convolution probe runs before and after: on a shared machine the
convolution throughput itself can change several-fold between minutes. The published
implementation's computation (``reference.py``) runs in the same rounds, so each variant's speed-up
over it holds however fast the machine is that hour; all variants use the published objective,
mode-seeking term included.

    python benchmarks/train_speed.py                       # tiny, small, paper; fp32 and bf16
    python benchmarks/train_speed.py --presets paper --iters 3
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import time

import artworkflow  # noqa: F401  (first: sets passive OpenMP waiting before torch loads)
import torch

from artworkflow.accel import accelerate
from artworkflow.config import StageSpec, WorkflowSpec, preset, replace
from artworkflow.train import objectives as O
from artworkflow.train.loop import make_adam
from artworkflow.workflow import Discriminators, Workflow
from machine import conv_throughput, describe
from reference import MODE_SEEKING, ReferenceTrainer

SPEC = WorkflowSpec("bench", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("final", 3)))
PUBLISHED_PAPER_S = 15.0  # the published implementation's fp32 paper-preset iteration on the reference machine


def make(preset_name: str, seed: int = 0, channels_last: bool = True):
    model, cfg = preset(preset_name)
    cfg = replace(cfg, {"loss": {"mode_seeking": MODE_SEEKING}})
    torch.manual_seed(seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    wf, disc = Workflow(SPEC, model).to(memory_format=fmt), Discriminators(SPEC, model).to(memory_format=fmt)
    wf, disc = accelerate(wf, for_="train"), accelerate(disc, for_="train")  # as train/loop.py does
    opt_g = make_adam([*wf.generators.parameters(), *wf.encoders.parameters()], cfg)
    opt_d = make_adam([*disc.encoded.parameters(), *disc.random.parameters()], cfg)
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


def batch(model, size: int, seed: int = 0, channels_last: bool = True):
    g = torch.Generator().manual_seed(seed)
    r = model.resolution
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [(torch.rand(size, c, r, r, generator=g) * 2 - 1).contiguous(memory_format=fmt) for c in SPEC.channels]


def time_preset(name: str, amps: list[str], layouts: list[str], batch_size: int, iters: int,
                warmup: int, reference: bool) -> list[dict]:
    """Every precision × layout variant of one preset, and the published computation, timed round
    by round (one iteration of each variant per round), so that a change in the machine's speed
    hits all variants alike."""
    variants = {}
    for amp in amps:
        for layout in layouts:
            cl = layout == "nhwc"
            model, cfg, wf, disc, opt_g, opt_d = make(name, channels_last=cl)
            stages = batch(model, batch_size, channels_last=cl)
            variants[(amp, layout)] = (model, functools.partial(iteration, wf, disc, opt_g, opt_d, stages,
                                                                cfg=cfg, amp=amp))
    if reference:
        model, cfg, wf, disc, _, _ = make(name, channels_last=False)
        trainer = ReferenceTrainer(wf, disc, cfg.lr, (cfg.beta1, cfg.beta2))
        stages = batch(model, batch_size, channels_last=False)
        variants[("none", "published")] = (model, lambda _step: trainer.step(stages))
    times: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
    for step in range(warmup + iters):
        for key, (_, run) in variants.items():
            t0 = time.perf_counter()
            run(step)
            if step >= warmup:
                times[key].append(time.perf_counter() - t0)
    rows = []
    published = times.get(("none", "published"))
    for (amp, layout), t in times.items():
        model = variants[(amp, layout)][0]
        med = statistics.median(t)
        row = {"preset": name, "resolution": model.resolution, "width": model.width, "amp": amp,
               "layout": layout, "batch": batch_size, "s_per_iter_median": round(med, 4),
               "s_per_iter_min": round(min(t), 4), "s_per_iter_max": round(max(t), 4),
               "images_per_s": round(batch_size / med, 3), "iters": iters}
        if published and layout != "published":
            paired = [p / v for p, v in zip(published, t)]  # same round: same machine speed
            row["speedup_vs_published_per_round"] = {"median": round(statistics.median(paired), 3),
                                                     "min": round(min(paired), 3), "max": round(max(paired), 3)}
        rows.append(row)
    return rows


def loss_curves(name: str, steps: int, batch_size: int) -> dict:
    """Runs from identical weights and data in each layout/precision: relative gap of their loss
    curves to the fp32 NCHW reference (the speed-ups must leave the training unchanged)."""
    curves = {}
    for amp, lay in (("none", "nchw"), ("none", "nhwc"), ("bf16", "nhwc")):
        cl = lay == "nhwc"
        model, cfg, wf, disc, opt_g, opt_d = make(name, seed=1, channels_last=cl)
        curves[f"{amp}/{lay}"] = [iteration(wf, disc, opt_g, opt_d, batch(model, batch_size, seed=s, channels_last=cl),
                                            s, cfg, amp) for s in range(steps)]
    ref = curves["none/nchw"]
    gaps = {}
    for k, c in curves.items():
        if k != "none/nchw":
            g = [abs(a - b) / max(abs(a), 1e-8) for a, b in zip(ref, c)]
            gaps[k] = {"max_relative_gap": round(max(g), 4), "mean_relative_gap": round(sum(g) / len(g), 4)}
    return {"preset": name, "steps": steps, "curves": {k: [round(v, 4) for v in c] for k, c in curves.items()},
            "gap_to_fp32_nchw": gaps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=["tiny", "small", "paper"])
    p.add_argument("--amp", nargs="+", default=["none", "bf16"])
    p.add_argument("--layouts", nargs="+", default=["nhwc", "nchw"], choices=["nhwc", "nchw"],
                   help="nhwc = channels_last, the training default")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--curve-steps", type=int, default=20, help="0 skips the fp32/bf16 loss-curve check")
    p.add_argument("--curve-preset", default="tiny")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the published computation (the slowest variant)")
    a = p.parse_args()
    probe_start = conv_throughput()
    rows = [row for n in a.presets
            for row in time_preset(n, a.amp, a.layouts, a.batch, a.iters, a.warmup, a.reference)]
    ratios, scaled = {}, {}
    for n in a.presets:
        by = {(r["amp"], r["layout"]): r["s_per_iter_median"] for r in rows if r["preset"] == n}
        for base_key, table in ((("none", "nchw"), ratios), (("none", "published"), scaled)):
            base = by.get(base_key)
            if base:
                table[n] = {f"{amp}/{lay}": round(base / t, 3) for (amp, lay), t in by.items()}
    out = {"benchmark": "generation_training", "stages": SPEC.channels, **describe(),
           "conv_throughput_at_start": probe_start,
           "conv_throughput_at_end": conv_throughput(), "results": rows, "speedup_vs_fp32_nchw": ratios,
           "speedup_vs_published": scaled}
    if "paper" in scaled:
        out["paper_s_per_iter_when_published_takes_15s"] = {
            k: round(PUBLISHED_PAPER_S / v, 2) for k, v in scaled["paper"].items()}
    if a.curve_steps:
        out["loss_curve"] = loss_curves(a.curve_preset, a.curve_steps, a.batch)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
