"""A self-check of the GPU path, end to end at small size, as JSON: training steps, a data-parallel
step, an edit round trip, generation, and the paper preset's iteration time next to the CPU's.

Every check is a record {name, ok, seconds, details}; the script prints all of them and exits with 1
when one failed. ``--device cpu`` runs the same code on the CPU (with the paper preset at 64 px, and
the timing at a reduced batch); ``--size tiny`` shrinks every check, for a test of this script.

    python benchmarks/gpu_check.py                              # CUDA when available; a few minutes
    python benchmarks/gpu_check.py --device cpu --size tiny --out runs/gpu-check.json
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import artworkflow  # noqa: F401  (first: sets passive OpenMP waiting before torch loads)
import numpy as np
import torch
import torch.multiprocessing as mp

from artworkflow.config import ModelConfig, TrainConfig, preset, replace
from artworkflow.data.sample import DEMO_MODEL
from artworkflow.data.toy import render_item, toy_spec
from artworkflow.editing.session import EditSession
from artworkflow.nn.init import init_weights
from artworkflow.outputs import writing
from artworkflow.pipeline import WorkflowPipeline
from artworkflow.precision import native_bf16
from artworkflow.train.distributed import Dist, init_distributed
from artworkflow.train.loop import Trainer, fresh_trainer
from artworkflow.train.objectives import StepContext
from artworkflow.workflow import Workflow
from machine import conv_throughput, describe

SPEC = toy_spec(3)
REDUCED_WIDTHS = {"width": 16, "mlp_dim": 64, "enc_width": 16, "unet_width": 16, "disc_width": 16}
FALLING = ("on one fixed batch, the mean of the last k values of each separate phase's generator objective less "
           "its adversarial (hinge GAN) terms, which the critics' own steps push up, is below the mean of the first k")
DDP_TIMEOUT_S = 180
DDP_BATCH = 4
TOTALS = {"inference": "inf/total", "inference_joint": "inf/total", "generation": "gen/total",
          "generation_joint": "gen/total"}


@dataclass(frozen=True)
class Sizes:
    """How large each check runs; all of it goes into the JSON."""

    paper_model: dict          # overrides of the paper preset's model (empty: as published, 256 px)
    paper_batch: int
    tiny_batch: int
    train_steps: int           # steps of each separate phase on the fixed batch
    edit_steps: int
    timed_iters: int           # timed iterations on the device, after one warm-up
    cpu_timing: dict | None = None  # the CPU's side of the timing, when the device is a GPU

    @property
    def k(self) -> int:
        return max(2, self.train_steps // 3)


def sizes(device: str, size: str) -> Sizes:
    """Full size on a GPU is the paper preset as published; on the CPU it is at 64 px, batch 2, and
    ``tiny`` also narrows the paper preset's networks to width 16."""
    gpu = device == "cuda"
    if size == "tiny":
        paper = {"resolution": 64, **REDUCED_WIDTHS}
        return Sizes(paper_model=paper, paper_batch=2, tiny_batch=2, train_steps=6, edit_steps=2, timed_iters=1,
                     cpu_timing={"model": paper, "batch": 2, "iters": 1} if gpu else None)
    tiny_batch = preset("tiny")[1].batch_size
    if gpu:
        return Sizes(paper_model={}, paper_batch=preset("paper")[1].batch_size, tiny_batch=tiny_batch,
                     train_steps=20, edit_steps=10, timed_iters=3, cpu_timing={"model": {}, "batch": 2, "iters": 1})
    return Sizes(paper_model={"resolution": 64}, paper_batch=2, tiny_batch=tiny_batch, train_steps=8, edit_steps=5,
                 timed_iters=2)


def configs(name: str, sz: Sizes, amp: str = "none") -> tuple[ModelConfig, TrainConfig]:
    model, cfg = preset(name)
    if name == "paper":
        model = replace(model, sz.paper_model)
    batch = sz.paper_batch if name == "paper" else sz.tiny_batch
    return model, replace(cfg, {"batch_size": batch, "amp": amp})


# ---------------------------------------------------------------------------------------------- data
def _tensor(image) -> torch.Tensor:
    a = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
    return a[None] if a.dim() == 2 else a.permute(2, 0, 1)


@functools.lru_cache(maxsize=None)
def _toy_batch(n: int, resolution: int) -> tuple[torch.Tensor, ...]:
    items = [render_item(0, i, resolution, 3) for i in range(n)]
    return tuple(torch.stack([_tensor(it[s]) for it in items]) for s in range(3))


def fixed_batch(n: int, resolution: int, device: str) -> list[torch.Tensor]:
    """``n`` toy-face workflows (sketch, flat, shaded) in [-1, 1], channels-last as training loads them:
    structured enough that a few steps on them lower the reconstruction losses. Fresh tensors each call
    (the drawing is done once)."""
    return [s.clone().to(device, memory_format=torch.channels_last) for s in _toy_batch(n, resolution)]


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


# -------------------------------------------------------------------------------------------- checks
def run_phases(trainer: Trainer, stages: list[torch.Tensor], steps: int, ids: torch.Tensor
               ) -> dict[str, list[dict[str, float]]]:
    """``steps`` of each separate phase and one of each joint phase, in the order training runs them,
    through the training loop's own step; the losses of every step."""
    plan = [("inference", steps), ("inference_joint", 1), ("generation", steps), ("generation_joint", 1)]
    out: dict[str, list[dict[str, float]]] = {}
    step = 0
    for phase, n in plan:
        out[phase] = []
        for _ in range(n):
            out[phase].append(trainer.step(phase, stages, StepContext(0, step, ids)))
            step += 1
    return out


def non_adversarial(losses: dict[str, float], total: str) -> float:
    """A phase's generator objective less its hinge GAN terms: the part a fixed batch must lower.
    Neither the reconstruction terms nor mode seeking fall on their own in a few steps of the paper
    preset: from the published initialisation the outputs hardly depend on the latent, so mode
    seeking starts at its ceiling (1/eps per stage, 2000 in the total); in float32 it falls while the
    reconstruction terms rise, and under bf16 the two latents' outputs round to the same values, so it
    stays at its ceiling (no gradient) while the reconstruction terms fall."""
    return losses[total] - sum(v for k, v in losses.items() if k.endswith("/gan"))


def check_training(name: str, amp: str, sz: Sizes, device: str, scratch: Path) -> dict:
    """A few steps of every phase on one fixed batch: every loss finite, the separate phases' totals falling."""
    model, cfg = configs(name, sz, amp)
    if amp == "bf16" and device == "cuda" and not native_bf16(device):
        return {"ok": True, "skipped": "this GPU has no bf16"}
    torch.manual_seed(cfg.seed)
    trainer = fresh_trainer(SPEC, model, cfg, device, scratch)
    stages = fixed_batch(cfg.batch_size, model.resolution, device)
    losses = run_phases(trainer, stages, sz.train_steps, torch.arange(cfg.batch_size))
    k = sz.k
    falling = {}
    for phase in ("inference", "generation"):
        curve = [non_adversarial(s, TOTALS[phase]) for s in losses[phase]]
        first, last = sum(curve[:k]) / k, sum(curve[-k:]) / k
        falling[phase] = {"first_k_mean": round(first, 4), "last_k_mean": round(last, 4), "falling": last < first,
                          "curve": [round(v, 4) for v in curve],
                          "total_curve": [round(s[TOTALS[phase]], 4) for s in losses[phase]]}
    finite = all(math.isfinite(v) for steps in losses.values() for s in steps for v in s.values())
    joint = {p: round(losses[p][0][TOTALS[p]], 4) for p in ("inference_joint", "generation_joint")}
    return {"ok": finite and all(f["falling"] for f in falling.values()), "finite": finite, "rule": FALLING,
            "k": k, "loss": falling, "joint_phase_totals": joint, "resolution": model.resolution,
            "width": model.width, "batch": cfg.batch_size, "steps_per_separate_phase": sz.train_steps, "amp": amp}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_steps(device: str, world: Dist, scratch: Path) -> dict:
    """One step of the inference and of the generation phase (all four optimisers) of the tiny preset
    on this process's share of a fixed global batch of 4. Adam's eps is 1 and mode seeking is off, as
    in the training loop's data-parallel test: the update is then proportional to the gradient, which
    splitting the batch must leave unchanged."""
    model, cfg = preset("tiny")
    cfg = replace(cfg, {"batch_size": DDP_BATCH, "adam_eps": 1.0, "loss": {"mode_seeking": 0.0}})
    torch.manual_seed(cfg.seed)
    trainer = fresh_trainer(SPEC, model, cfg, device, scratch, world)
    start = _weights(trainer)
    local = DDP_BATCH // world.world_size
    part = slice(world.rank * local, (world.rank + 1) * local)
    stages = [s[part] for s in fixed_batch(DDP_BATCH, model.resolution, device)]
    ids = torch.arange(DDP_BATCH)[part]
    losses = {phase: trainer.step(phase, stages, StepContext(cfg.seed, step, ids, world.world_size))
              for step, phase in enumerate(("inference", "generation"))}
    end = _weights(trainer)
    moved = max((end[k] - start[k]).abs().max().item() for k in end if end[k].is_floating_point())
    return {"weights": end, "moved": moved, "losses": losses}


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v.detach().cpu().clone() for name, m in (("wf", trainer.wf), ("disc", trainer.disc))
            for k, v in m.state_dict().items()}


def _ddp_worker(rank: int, world_size: int, port: int, device: str, scratch: str, threads: int) -> None:
    """One process of the data-parallel check, joined as torchrun would join it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(threads)
    world = init_distributed(device)
    try:
        result = ddp_steps(f"cuda:{world.local_rank}" if device == "cuda" else "cpu", world, Path(scratch))
        result["backend"] = torch.distributed.get_backend()
        torch.save(result, Path(scratch) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def _spawn_ranks(device: str, scratch: Path, world_size: int = 2) -> list[dict]:
    """The data-parallel step in ``world_size`` spawned processes; their results, rank by rank."""
    threads = max(1, torch.get_num_threads() // world_size)
    procs = mp.spawn(_ddp_worker, args=(world_size, _free_port(), device, str(scratch), threads), nprocs=world_size,
                     join=False)
    deadline = time.monotonic() + DDP_TIMEOUT_S
    while not procs.join(timeout=1):
        if time.monotonic() > deadline:
            for proc in procs.processes:
                proc.kill()
            raise TimeoutError(f"the {world_size} processes did not finish one step in {DDP_TIMEOUT_S} s")
    return [torch.load(scratch / f"rank{r}.pt") for r in range(world_size)]


def _max_gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].is_floating_point())


def check_ddp(device: str, scratch: Path) -> dict:
    """A data-parallel step over 2 processes (nccl with a GPU each, else gloo on the CPU): both
    processes end with the same weights, and with the weights of one process on the whole batch."""
    on = "cuda" if device == "cuda" and torch.cuda.device_count() >= 2 else "cpu"
    why = ("a GPU per process" if on == "cuda" else
           "the CPU, as fewer than 2 GPUs are visible (nccl needs a GPU per process)" if device == "cuda" else
           "the CPU, the device of this run")
    ranks = _spawn_ranks(on, scratch)
    single = ddp_steps("cuda:0" if on == "cuda" else "cpu", Dist(), scratch)
    between = _max_gap(ranks[0]["weights"], ranks[1]["weights"])
    to_single = _max_gap(ranks[0]["weights"], single["weights"])
    finite = all(math.isfinite(v) for r in ranks for step in r["losses"].values() for v in step.values())
    ok = finite and between <= 1e-6 and single["moved"] > 0 and to_single <= 1e-6 + 0.01 * single["moved"]
    return {"ok": ok, "backend": ranks[0]["backend"], "processes": len(ranks), "on": why, "global_batch": DDP_BATCH,
            "phases": list(single["losses"]), "finite": finite, "max_weight_gap_between_processes": between,
            "max_weight_gap_to_one_process": to_single, "max_weight_change_of_the_step": single["moved"],
            "rule": "gap between processes <= 1e-6, gap to one process <= 1e-6 + 1% of the step's largest change"}


# ---------------------------------------------------------------------------------- edit and generate
def paper_workflow(sz: Sizes, device: str) -> Workflow:
    """A paper-preset workflow at this run's size, with the published initialisation (random weights)."""
    model, cfg = configs("paper", sz)
    torch.manual_seed(cfg.seed)
    return init_weights(Workflow(SPEC, model), cfg.init).to(device)


def bundled_workflow(device: str) -> Workflow:
    return Workflow.from_pretrained(DEMO_MODEL, map_location=device)


def check_edit(wf: Workflow, steps: int) -> dict:
    """Reconstruct an artwork, resample a stage, undo: the stages keep their shapes, the resample keeps
    the stage before it and changes the ones after, and undo gives back the very same stages."""
    res, channels = wf.model_config.resolution, wf.spec.channels
    artwork = fixed_batch(1, res, "cpu")[-1][0]
    session = EditSession.from_artwork(wf, artwork, steps=steps)
    before, adain = session.stages, session.adain
    after = session.resample(1, seed=3)
    undone = session.undo()
    shapes = all(tuple(s.shape) == (1, c, res, res) for s, c in zip(before, channels)) and len(before) == len(channels)
    on_device = all(s.device == wf.device for s in before + after)
    finite = all(torch.isfinite(s).all().item() for s in before + after)
    kept = torch.equal(after[0], before[0])
    changed = all(not torch.equal(a, b) for a, b in zip(after[1:], before[1:]))
    restored = (undone and all(torch.equal(a, b) for a, b in zip(session.stages, before))
                and all(torch.equal(a, b) for a, b in zip(session.adain, adain)))
    fit = (session.reconstruction.stages[-1].float() - artwork.to(wf.device)[None]).abs().mean().item()
    return {"ok": shapes and on_device and finite and kept and changed and restored, "resolution": res,
            "optimisation_steps": steps, "amp": session.amp, "shapes": shapes, "on_device": on_device,
            "finite": finite, "resample_keeps_earlier_stage": kept, "resample_changes_later_stages": changed,
            "undo_restores_bit_identical": restored, "reconstruction_l1": round(fit, 4)}


def check_generate(wf: Workflow) -> dict:
    """Sample two workflows (twice with one seed: the same), three variations of the last stage, and a
    decomposition of a finished artwork, all on the workflow's device."""
    pipe = WorkflowPipeline(wf)
    batch = fixed_batch(2, pipe.resolution, "cpu")
    x1 = pipe.prepare(batch[0], 0)
    first, again = pipe.sample(x1, seed=1), pipe.sample(x1, seed=1)
    last = len(pipe.names) - 2
    variations = pipe.stage_variations(x1, stage=last, k=3, seed=2)
    parts = pipe.decompose(pipe.prepare(batch[-1], len(pipe.names) - 1))
    shape = lambda images, n: all(tuple(s.shape) == (n, c, pipe.resolution, pipe.resolution)  # noqa: E731
                                  for s, c in zip(images, wf.spec.channels))
    shapes = shape(first, 2) and shape(parts, 2) and all(shape(v, 1) for v in variations)
    finite = all(torch.isfinite(s).all().item() for s in first + parts + [x for v in variations for x in v])
    repeat = max((a - b).abs().max().item() for a, b in zip(first, again))
    earlier_same = all(torch.equal(v[i], variations[0][i]) for v in variations for i in range(last + 1))
    spread = max((v[-1] - variations[0][-1]).abs().max().item() for v in variations[1:])
    ok = shapes and finite and repeat <= 1e-4 and earlier_same and spread > 0
    return {"ok": ok, "resolution": pipe.resolution, "device": str(wf.device), "shapes": shapes, "finite": finite,
            "same_seed_max_gap": repeat, "variations_keep_earlier_stages": earlier_same,
            "variations_max_spread_of_last_stage": float(f"{spread:.3g}")}


# --------------------------------------------------------------------------------------------- speed
def iteration_times(device: str, model_over: dict, batch: int, iters: int, amp: str, scratch: Path) -> dict:
    """Seconds of generation-training iterations of the paper preset (every stage's generator and
    critic step, the loop's own step), after one warm-up iteration."""
    model, cfg = preset("paper")
    model, cfg = replace(model, model_over), replace(cfg, {"batch_size": batch, "amp": amp})
    torch.manual_seed(cfg.seed)
    trainer = fresh_trainer(SPEC, model, cfg, device, scratch)
    stages = fixed_batch(batch, model.resolution, device)
    times = []
    for step in range(1 + iters):
        sync(device)
        t0 = time.perf_counter()
        trainer.step("generation", stages, StepContext(cfg.seed, step, torch.arange(batch)))
        sync(device)
        if step:
            times.append(time.perf_counter() - t0)
    median = sorted(times)[len(times) // 2]
    return {"device": device, "resolution": model.resolution, "width": model.width, "batch": batch, "amp": amp,
            "warmup_iters": 1, "timed_iters": iters, "s_per_iter": [round(t, 4) for t in times],
            "images_per_s": round(batch / median, 3)}


def check_speed(device: str, sz: Sizes, scratch: Path) -> dict:
    """The paper preset's iteration time on the device (float32, and bf16 on a GPU that has it), and on
    the CPU when the device is a GPU, where the CPU runs fewer iterations at a smaller batch."""
    amps = [("fp32", "none")] + ([("bf16", "bf16")] if device == "cuda" and native_bf16(device) else [])
    rows = {f"{device}/{label}": iteration_times(device, sz.paper_model, sz.paper_batch, sz.timed_iters, amp, scratch)
            for label, amp in amps}
    out: dict = {"iterations": rows}
    if sz.cpu_timing is not None:
        cpu = sz.cpu_timing
        rows["cpu/fp32"] = iteration_times("cpu", cpu["model"], cpu["batch"], cpu["iters"], "none", scratch)
        speed = {k: r["images_per_s"] for k, r in rows.items()}
        out["gpu_vs_cpu_images_per_s_fp32"] = round(speed["cuda/fp32"] / speed["cpu/fp32"], 1)
        out["note"] = (f"the CPU ran {cpu['iters']} timed iteration(s) at batch {cpu['batch']} after one warm-up; "
                       "compare images per second")
    else:
        out["note"] = "the device is the CPU: no comparison"
    out["ok"] = all(t > 0 and math.isfinite(t) for r in rows.values() for t in r["s_per_iter"])
    return out


# ---------------------------------------------------------------------------------------------- main
def record(name: str, device: str, check: Callable[[], dict]) -> dict:
    """Run one check: its time, its outcome (an exception is a failure, with its message), and on a
    GPU its peak memory."""
    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    try:
        details = check()
        sync(device)
        ok = bool(details.pop("ok"))
    except Exception as e:  # noqa: BLE001  (every failure is reported, then the next check runs)
        ok, details = False, {"error": f"{type(e).__name__}: {e}",
                              "where": traceback.format_exc().strip().splitlines()[-3:]}
    seconds = time.perf_counter() - t0
    if cuda:
        details["cuda_max_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        torch.cuda.empty_cache()
    print(f"{name}: {'ok' if ok else 'FAILED'} ({seconds:.1f} s)", file=sys.stderr)
    return {"name": name, "ok": ok, "seconds": round(seconds, 2), "details": details}


def run_checks(device: str, sz: Sizes, scratch: Path) -> list[dict]:
    checks = [record(f"train/{name}/{label}", device, lambda: check_training(name, amp, sz, device, scratch))
              for name in ("tiny", "paper") for label, amp in (("fp32", "none"), ("bf16", "bf16"))]
    checks.append(record("ddp", device, lambda: check_ddp(device, scratch)))
    for label, load in (("bundled", lambda: bundled_workflow(device)), ("paper", lambda: paper_workflow(sz, device))):
        checks.append(record(f"edit/{label}", device, lambda: check_edit(load(), sz.edit_steps)))
        checks.append(record(f"generate/{label}", device, lambda: check_generate(load())))
    checks.append(record("paper_speed", device, lambda: check_speed(device, sz, scratch)))
    return checks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu",
                   help="default: cuda when torch sees a GPU")
    p.add_argument("--size", choices=["full", "tiny"], default="full", help="tiny: every check at its smallest")
    p.add_argument("--out", type=Path, help="also write the JSON to this new file")
    a = p.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error(f"--device cuda: torch {torch.__version__} sees no CUDA device; install a CUDA build of torch "
                "or use --device cpu")
    if a.out is not None and os.path.lexists(a.out):
        p.error(f"--out {a.out}: already exists; give a new file name")
    sz = sizes(a.device, a.size)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        checks = run_checks(a.device, sz, Path(scratch))
    report = {"benchmark": "gpu_check", "device": a.device, "size": a.size, "ok": all(c["ok"] for c in checks),
              "seconds": round(time.perf_counter() - t0, 1), "machine": describe(a.device), "sizes": asdict(sz),
              "checks": checks}
    if a.size == "full":
        report["machine"]["conv_throughput"] = conv_throughput()
    text = json.dumps(report, indent=2)
    print(text)
    if a.out is not None:
        with writing(a.out), open(a.out, "x") as f:
            f.write(text + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
