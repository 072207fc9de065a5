"""Editing speed as JSON: AdaIN-optimisation steps, a full reconstruction, and edit latency.

All networks are paper-size (generator width 64) with random weights, and VGG16 is randomly
initialised: speed does not depend on the weights. Variants run interleaved, round by round, and
their medians are compared as ratios, because a shared machine is noisy. The published
implementation's optimisation step (``reference.py``) runs in the same rounds, and throughout the
reconstruction and the edit round trip as a yardstick: their times are also given as they would be
on the reference machine, where that step takes 0.97 s.

    python benchmarks/edit_speed.py            # 64/128/256 px steps, 128 px reconstruction (T=150), 256 px edits
    python benchmarks/edit_speed.py --quick    # fewer steps; reconstruction at T=20
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time

import artworkflow  # noqa: F401  (first: sets passive OpenMP waiting before torch loads)
import torch
from torch.utils.flop_counter import FlopCounterMode

from artworkflow.accel import accelerate
from artworkflow.config import ModelConfig, StageSpec, WorkflowSpec, preset, replace
from artworkflow.editing.adain_opt import optimize_stage, stage_objective
from artworkflow.editing.perceptual import random_perceptual
from artworkflow.editing.reconstruct import reconstruct
from artworkflow.editing.render import EditNetworks, stage_decoder
from artworkflow.editing.session import EditSession
from artworkflow.precision import resolve_amp
from artworkflow.workflow import Workflow
from machine import conv_throughput
from reference import adain_step, plain_generator

SPEC = WorkflowSpec("bench", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("final", 3)))
PUBLISHED_STEP_256_S = 0.97  # the published implementation's 256 px step on the reference machine


def paper_workflow(resolution: int) -> Workflow:
    model: ModelConfig = replace(preset("paper")[0], {"resolution": resolution})
    torch.manual_seed(0)
    return Workflow(SPEC, model).eval()


def artwork(resolution: int, seed: int = 0) -> torch.Tensor:
    """A smooth random colour image (a stand-in artwork) in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 8, 8, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(low, size=resolution, mode="bicubic", align_corners=False).clamp(-1, 1)


def last_stage_networks(wf: Workflow, vgg, amp: str) -> EditNetworks:
    """``edit_networks(wf, vgg, amp)`` for the last generation stage only, the one these timings run
    (copies of the others would only add to the memory the run reports)."""
    return EditNetworks(accelerate(wf.generators[-1:], for_="edit", amp=amp), accelerate(vgg, for_="edit", amp=amp),
                        amp)


def step_times(nets: EditNetworks, x_in: torch.Tensor, ref: torch.Tensor, start: torch.Tensor, steps: int,
               cache: bool) -> list[float]:
    """Seconds of each optimisation step after the first (which pays one-off costs), on the networks
    editing runs."""
    stamps = [time.perf_counter()]
    optimize_stage(nets.generators[-1], x_in, ref, start, steps=steps + 1, perceptual=nets.perceptual, cache=cache,
                   amp=nets.amp, progress=lambda t, loss: stamps.append(time.perf_counter()))
    return [b - a for a, b in zip(stamps[1:], stamps[2:])]


def published_step_times(g_plain, vgg, x_in: torch.Tensor, ref: torch.Tensor, start: torch.Tensor,
                         steps: int) -> list[float]:
    delta = torch.zeros_like(start)
    times = []
    for k in range(steps + 1):
        t0 = time.perf_counter()
        delta = delta - 0.1 * adain_step(g_plain, vgg, x_in, ref, start, delta)
        if k:
            times.append(time.perf_counter() - t0)
    return times


def step_gflop(nets: EditNetworks, x_in: torch.Tensor, ref: torch.Tensor, start: torch.Tensor, cache: bool) -> float:
    """Floating-point work one optimisation step (forward and backward) executes, counted by
    PyTorch: a Winograd convolution counts the products it does, not those of a direct one."""
    objective = stage_objective(nets.generators[-1], x_in, ref, perceptual=nets.perceptual, cache=cache, amp=nets.amp)
    delta = torch.zeros_like(start, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        loss, _ = objective(start + delta)
        torch.autograd.grad(loss.sum(), delta)
    return counter.get_total_flops() / 1e9


def _label(variant: tuple[bool, str]) -> str:
    cache, amp = variant
    return f"{'cached' if cache else 'uncached'}_{'fp32' if amp == 'none' else 'bf16'}"


def bench_steps(resolutions: list[int], steps: int, rounds: int) -> dict:
    vgg = random_perceptual()
    variants = [(cache, amp) for cache in (True, False) for amp in ("none", "bf16")]
    out = {}
    for r in resolutions:
        wf = paper_workflow(r)
        x_in = torch.rand(1, 3, r, r) * 2 - 1
        ref = artwork(r)
        with torch.no_grad():
            start = wf.adain_vector(1, wf.encode(1, ref)[0])
        g_plain = plain_generator(wf.generators[-1]).requires_grad_(False)
        nets = {amp: last_stage_networks(wf, vgg, amp) for amp in ("none", "bf16")}
        times: dict[tuple[bool, str], list[float]] = {v: [] for v in variants}
        published: list[float] = []
        paired: dict[tuple[bool, str], list[float]] = {v: [] for v in variants}
        for _ in range(rounds):
            this_round = {(cache, amp): statistics.median(step_times(nets[amp], x_in, ref, start, steps, cache))
                          for cache, amp in variants}
            pub_round = published_step_times(g_plain, vgg, x_in, ref, start, steps)
            published += pub_round
            for v, t in this_round.items():
                times[v].append(t)
                paired[v].append(statistics.median(pub_round) / t)  # same round: same machine speed
        med = {v: statistics.median(t) for v, t in times.items()}
        pub = statistics.median(published)
        gflop = step_gflop(nets["none"], x_in, ref, start, cache=True)
        out[f"{r}px"] = {
            "gflop_per_step_cached": round(gflop, 1),
            "gflop_per_step_uncached": round(step_gflop(nets["none"], x_in, ref, start, cache=False), 1),
            "achieved_gflop_per_s_cached_fp32": round(gflop / med[(True, "none")], 1),
            "s_per_step": {_label(v): round(s, 4) for v, s in med.items()},
            "cache_speedup_fp32": round(med[(False, "none")] / med[(True, "none")], 3),
            "cache_speedup_bf16": round(med[(False, "bf16")] / med[(True, "bf16")], 3),
            "bf16_speedup_cached": round(med[(True, "none")] / med[(True, "bf16")], 3),
            "s_per_step_published": round(pub, 4),
            "speedup_vs_published": {_label(v): round(pub / s, 3) for v, s in med.items()},
            "speedup_vs_published_per_round": {
                _label(v): {"median": round(statistics.median(r), 3), "min": round(min(r), 3), "max": round(max(r), 3)}
                for v, r in paired.items()},
            "rounds": rounds, "steps_timed_per_round": steps,
        }
    return out


def bench_fast_decode(resolution: int, rounds: int) -> dict:
    """Forward + backward of the decoder alone: the training-accelerated generator's decode of a
    content code against editing's (its frozen float32 copy's, on the content prepared once)."""
    wf = paper_workflow(resolution)
    g = accelerate(wf.generators[-1], for_="train").requires_grad_(False)
    x_in = torch.rand(1, 3, resolution, resolution) * 2 - 1
    with torch.no_grad():
        content = g.encode_content(x_in)
        start = g.adain_vector(torch.randn(1, g.nz))
    fast = stage_decoder(accelerate(wf.generators[-1], for_="edit"), x_in)
    paths = {"generator_decode": lambda a: g.decode(content, a), "fast_decode": fast}
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds + 1):
        for k, f in paths.items():
            d = torch.zeros_like(start, requires_grad=True)
            t0 = time.perf_counter()
            torch.autograd.grad(f(start + d).abs().mean(), d)
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v[1:]) for k, v in times.items()}
    with torch.no_grad():
        err = float((fast(start) - g.decode(content, start)).abs().max())
    return {"resolution": resolution, "s_fwd_bwd": {k: round(v, 4) for k, v in med.items()},
            "speedup": round(med["generator_decode"] / med["fast_decode"], 3), "max_abs_difference": err}


class PublishedStep:
    """The published 256 px optimisation step as a yardstick of the machine's speed, timed between
    the parts of a measurement that has no published counterpart of its own. The machine's speed can
    change by half within a minute, so the yardstick runs throughout, not only before and after."""

    def __init__(self):
        wf = paper_workflow(256)
        self.g, self.vgg = plain_generator(wf.generators[-1]).requires_grad_(False), random_perceptual()
        self.x_in, self.ref = torch.rand(1, 3, 256, 256) * 2 - 1, artwork(256)
        with torch.no_grad():
            self.start = wf.adain_vector(1, wf.encode(1, self.ref)[0])
        self.delta = torch.zeros_like(self.start)
        self()  # warm-up

    def __call__(self) -> float:
        """Seconds of one published step."""
        t0 = time.perf_counter()
        adain_step(self.g, self.vgg, self.x_in, self.ref, self.start, self.delta)
        return time.perf_counter() - t0


def _scaled(seconds: float, yardstick: list[float]) -> dict:
    mean = statistics.mean(yardstick)
    return {"published_256px_step_s": [round(t, 3) for t in yardstick],
            "seconds_when_published_takes_0.97s": round(seconds * PUBLISHED_STEP_256_S / mean, 2)}


def bench_reconstruction(resolution: int, steps: int, yardstick: PublishedStep, every: int = 30) -> dict:
    """Each precision's reconstruction, with a published step timed before it, after it and every
    ``every`` optimisation steps within it (their time is not counted as reconstruction time)."""
    wf = paper_workflow(resolution)
    vgg = random_perceptual()
    art = artwork(resolution)
    out = {"resolution": resolution, "stages": SPEC.names, "steps_per_stage": steps}
    for amp in ("none", "bf16"):
        samples = [yardstick()]

        def interleave(i: int, t: int, loss: torch.Tensor) -> None:
            if (t + 1) % every == 0:
                samples.append(yardstick())

        t0 = time.perf_counter()
        rec = reconstruct(wf, art, method="adain", steps=steps, perceptual=vgg, amp=amp, progress=interleave)
        seconds = time.perf_counter() - t0 - sum(samples[1:])
        samples.append(yardstick())
        out["fp32" if amp == "none" else "bf16"] = {"seconds": round(seconds, 2), **_scaled(seconds, samples),
                                                    "l1_before": round(rec.l1_before, 4),
                                                    "l1_after": round(rec.l1_after, 4)}
    return out


def bench_edits(resolution: int, rounds: int, yardstick: PublishedStep) -> dict:
    """Re-sampling the middle and the last stage; a published step is timed before, between and after."""
    wf = paper_workflow(resolution)
    out = {"resolution": resolution}
    for amp in ("none", "bf16"):
        session = EditSession.from_artwork(wf, artwork(resolution)[0], method="none", amp=amp)
        medians, samples = {}, [yardstick()]
        for stage in (1, 2):
            session.resample(stage, seed=0)
            times = []
            for k in range(rounds):
                t0 = time.perf_counter()
                session.resample(stage, seed=k + 1)
                times.append(time.perf_counter() - t0)
            medians[f"resample_{SPEC.names[stage]}_s"] = statistics.median(times)
            samples.append(yardstick())
        t0 = time.perf_counter()
        session.undo()
        res = {"undo_s": round(time.perf_counter() - t0, 6), "published_256px_step_s": [round(t, 3) for t in samples]}
        for name, t in medians.items():
            res[name] = round(t, 4)
            res[f"{name}_when_published_takes_0.97s"] = _scaled(t, samples)["seconds_when_published_takes_0.97s"]
        out["fp32" if amp == "none" else "bf16"] = res
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short run: fewer steps, reconstruction at T=20")
    p.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--rounds", type=int, help="rounds of optimisation steps per resolution (default 4; 1 with --quick)")
    p.add_argument("--steps-only", action="store_true", help="time the optimisation steps only")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    steps, rounds = (2, a.rounds or 1) if a.quick else (3, a.rounds or 4)
    t0 = time.perf_counter()
    result = {
        "benchmark": "edit_speed", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "load_average_at_start": os.getloadavg(),
        "conv_throughput_at_start": conv_throughput(),
        "generator": "paper size (width 64, 4 AdaIN blocks, AdaIN vector 4096)", "perceptual": "VGG16 (random init)",
        "editing_default_precision_here": resolve_amp("auto", torch.device("cpu")),  # what `edit --amp auto` runs
        "optimisation_step": bench_steps(a.resolutions, steps, rounds),
    }
    at256 = result["optimisation_step"].get("256px")
    if at256:
        result["step_256px_s_when_published_takes_0.97s"] = {
            k: round(PUBLISHED_STEP_256_S / v, 3) for k, v in at256["speedup_vs_published"].items()}
    if not a.steps_only:
        result["decoder_fwd_bwd_256px"] = bench_fast_decode(256, 2 if a.quick else 3)
        yardstick = PublishedStep()
        result["reconstruction"] = bench_reconstruction(128, 20 if a.quick else 150, yardstick, 10 if a.quick else 30)
        result["edit_round_trip"] = bench_edits(256, 2 if a.quick else 5, yardstick)
    result["conv_throughput_at_end"] = conv_throughput()
    result["load_average_at_end"] = os.getloadavg()
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
