"""The training loop: inference nets (separate, then joint), then generation stages (separate, then
joint), one explicit optimisation step per phase. Resumable, data-parallel under torchrun, with
TensorBoard scalars, sample grids and atomic checkpoints."""
from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..accel import accelerate
from ..config import ModelConfig, TrainConfig, WorkflowSpec, to_dict
from ..data.dataset import StageDataset, collate_stages
from ..errors import (CheckpointError, ConfigError, DatasetError, OutputError, TrainingDivergedError,
                      TrainingInterrupted)
from ..files import atomic_write_text
from ..nn.init import init_weights
from ..outputs import writing
from ..precision import autocast
from ..workflow import Discriminators, Workflow
from . import objectives as O
from .checkpoint import RUN_FILE, latest_checkpoint, load_average, load_checkpoint, read_run_config, save_checkpoint
from .distributed import Dist, any_rank, average_gradients, barrier, broadcast_module, init_distributed
from .ema import WeightAverage
from .samples import SampleWriter

PHASES = ("inference", "inference_joint", "generation", "generation_joint")


def schedule(cfg: TrainConfig, steps_per_epoch: int) -> list[tuple[str, int]]:
    """Steps of each phase from its length in epochs; ``max_steps`` scales all phases down
    proportionally (each non-empty phase keeps at least one step)."""
    epochs = (cfg.inference_epochs, cfg.inference_joint_epochs, cfg.generation_epochs,
              cfg.generation_joint_epochs)
    steps = [max(1, round(e * steps_per_epoch)) if e > 0 else 0 for e in epochs]
    total = sum(steps)
    if cfg.max_steps is not None and total > cfg.max_steps:
        steps = [max(1, math.floor(s * cfg.max_steps / total)) if s else 0 for s in steps]
        last = max(i for i, s in enumerate(steps) if s)
        steps[last] += max(0, cfg.max_steps - sum(steps))
    return [(p, s) for p, s in zip(PHASES, steps) if s]


def phase_at(plan: list[tuple[str, int]], step: int) -> str | None:
    for name, n in plan:
        if step < n:
            return name
        step -= n
    return None


class _Keyed(Dataset):
    """Items keyed by (index, epoch): the sampler chooses the epoch, so augmentation is a function
    of (epoch, index)."""

    def __init__(self, ds: StageDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, key: tuple[int, int]):
        index, epoch = key
        return self.ds.item(index, epoch)


class _GlobalBatches(Sampler):
    """This process's share of each global batch, from a given step on. The order of epoch e is a
    permutation seeded by (seed, e), so it is the same in every process and after a resume."""

    def __init__(self, n: int, batch: int, seed: int, start_step: int, world: Dist):
        self.n, self.batch, self.seed, self.start, self.world = n, batch, seed, start_step, world
        self.per_epoch = n // batch
        self.local = batch // world.world_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start
        while True:
            epoch, b = divmod(step, self.per_epoch)
            perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
            lo = b * self.batch + self.world.rank * self.local
            yield [(int(i), epoch) for i in perm[lo:lo + self.local]]
            step += 1

    def __len__(self) -> int:
        return 2 ** 62


RESUME_FREE = ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "num_workers", "channels_last",
               "accel")
"""Training options a resume may change: how often the run logs, samples and checkpoints, and how it
loads data, and whether the speed-ups of artworkflow.accel run; not what it computes or for how long."""


@dataclass
class TrainResult:
    run: Path
    step: int
    seconds: float
    last_losses: dict[str, float]


def _check_world(cfg: TrainConfig, world: Dist) -> None:
    per = cfg.batch_size // world.world_size
    if cfg.batch_size % world.world_size or per % 2:
        raise ConfigError(f"batch_size {cfg.batch_size} must split into an even number of samples per "
                          f"process over {world.world_size} processes")


def _resume_key(train: dict[str, Any]) -> dict[str, Any]:
    """Options that must not change across a resume."""
    return {k: v for k, v in train.items() if k not in RESUME_FREE}


def _first_difference(old: dict[str, Any], new: dict[str, Any], where: str) -> str:
    key = next(k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
    return f"{where}{key} {old.get(key)!r} there, {new.get(key)!r} here"


def resumable_checkpoint(run: Path) -> Path:
    """The checkpoint a resume of ``run`` starts from; the refusal says why there is none."""
    ckpt = latest_checkpoint(run)
    if ckpt is not None:
        return ckpt
    if (run / RUN_FILE).is_file():
        raise CheckpointError(f"{run}: nothing to resume: the run stopped before its first checkpoint (none under "
                              f"{run / 'checkpoints'}); drop --resume to start it again")
    raise CheckpointError(f"{run}: nothing to resume (no complete checkpoint under {run / 'checkpoints'}); drop "
                          "--resume to start a new run")


def _check_out(run: Path, resume: bool) -> None:
    """A new run needs a new or empty folder (or one of a run that never wrote a checkpoint)."""
    if run.exists() and not run.is_dir():
        raise OutputError(f"{run}: is a file, not a folder; give --out a new folder, or a run folder to resume")
    if resume:
        return
    if latest_checkpoint(run) is not None:
        raise CheckpointError(f"{run}: already holds a training run; pass --resume to continue it "
                              "or choose another --out folder")
    if run.is_dir() and not (run / RUN_FILE).is_file() and any(run.iterdir()):
        raise OutputError(f"{run}: folder is not empty and holds no training run; give --out a new or empty folder")


def _resumed(ckpt: Path, spec: WorkflowSpec, data: str | Path, model: ModelConfig, cfg: TrainConfig) -> dict:
    """The run config of the checkpoint a resume starts from, checked against what this call asks for."""
    old = read_run_config(ckpt)
    if not WorkflowSpec.from_dict(old["workflow"]).same_stages(spec):
        raise CheckpointError(f"{ckpt}: checkpoint of workflow {old['workflow']['name']} "
                              f"({[s['name'] for s in old['workflow']['stages']]}) does not match "
                              f"dataset {data} ({spec.names}); use a new --out folder")
    asked = {"model": to_dict(model), "train": _resume_key(to_dict(cfg))}
    for section, values in (("model", old["model"]), ("train", _resume_key(old["train"]))):
        if values != asked[section]:
            longer = (" (extend_steps, --extend-steps N, trains longer)"
                      if section == "train" and values.get("max_steps") != cfg.max_steps else "")
            raise CheckpointError(f"{ckpt}: saved with other model/training options ("
                                  f"{_first_difference(values, asked[section], section + '.')}); resume with the "
                                  f"options in {ckpt / RUN_FILE}{longer} or start a new --out folder")
    return old


def _plan(cfg: TrainConfig, steps_per_epoch: int, old: dict | None, extend_steps: int) -> list[tuple[str, int]]:
    """The phases of the run: a resumed run keeps the plan it recorded (runs that recorded none get it
    recomputed), ``extend_steps`` more in the last phase."""
    if old is not None and "plan" in old:
        plan = [(str(p), int(n)) for p, n in old["plan"]]
    else:
        plan = schedule(cfg, steps_per_epoch)
    if extend_steps < 0:
        raise ConfigError(f"extend_steps is {extend_steps}; it must be an integer >= 0")
    if extend_steps and old is None:
        raise ConfigError("extend_steps lengthens a run that has a checkpoint; use it with resume (--resume)")
    if extend_steps:
        plan[-1] = (plan[-1][0], plan[-1][1] + extend_steps)
    return plan


def _finite(losses: dict[str, torch.Tensor], step: int, run: Path) -> None:
    bad = [k for k, v in losses.items() if not torch.isfinite(v).all()]
    if bad:
        kept = ("the last good checkpoint was kept" if latest_checkpoint(run) is not None
                else "no checkpoint had been written yet")
        raise TrainingDivergedError(f"loss {', '.join(bad)} is not finite at step {step}; training "
                                    f"stopped and {kept} (try a lower lr or amp=none)")


def make_adam(params, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam as the paper sets it. The fused kernel (CPU and CUDA) updates every tensor in one pass,
    about 4× faster on CPU than the per-tensor loop."""
    return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps, fused=True)


class _StopRequest:
    """Ctrl-C during training asks the loop to stop after the step in progress, so that the checkpoint
    it then writes is of a finished step; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "_StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this step to write a checkpoint and the model (Ctrl-C again stops at "
              "once)", file=sys.stderr)

    def __exit__(self, *exc) -> bool:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _worker_ignores_interrupt(worker_id: int) -> None:
    """Ctrl-C reaches the DataLoader workers too; the trainer alone decides when to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _saving(run: Path) -> contextlib.AbstractContextManager:
    """A failed write of the run (a full disk) in one line that says what was kept."""
    kept = latest_checkpoint(run)
    return writing(run, f"; checkpoint {kept} is intact and --resume continues from it" if kept else "")


@dataclass
class Trainer:
    """The networks, optimisers and options of a run, and its two kinds of work: one optimisation step
    of a phase, and a checkpoint."""

    wf: Workflow
    disc: Discriminators
    optimizers: dict[str, torch.optim.Optimizer]
    scalers: dict[str, Any]
    average: WeightAverage | None
    world: Dist
    cfg: TrainConfig
    device: str
    run: Path
    run_config: dict[str, Any]

    def _optimize(self, name: str, loss: torch.Tensor, params: list) -> None:
        opt, scaler = self.optimizers[name], self.scalers[name]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        average_gradients(params, self.world)
        scaler.step(opt)
        scaler.update()

    def step(self, phase: str, stages: list[torch.Tensor], ctx: O.StepContext) -> dict[str, float]:
        """One step of ``phase``: the networks' update, then their critics'; returns the losses."""
        wf, disc, cfg, step = self.wf, self.disc, self.cfg, ctx.step
        joint = phase.endswith("joint")
        if phase.startswith("inference"):
            wf.inference.requires_grad_(True)
            disc.inference.requires_grad_(False)
            with autocast(cfg.amp, self.device):
                losses, pairs = O.inference_generator_loss(wf, disc, stages, joint, cfg.loss)
            _finite(losses, step, self.run)
            self._optimize("inference", losses["inf/total"], list(wf.inference.parameters()))
            disc.inference.requires_grad_(True)
            with autocast(cfg.amp, self.device):
                d_losses = O.inference_discriminator_loss(disc, pairs)
            _finite(d_losses, step, self.run)
            self._optimize("inference_d", d_losses["inf_d/total"], list(disc.inference.parameters()))
        else:
            wf.inference.requires_grad_(False)
            wf.generators.requires_grad_(True)
            wf.encoders.requires_grad_(True)
            disc.encoded.requires_grad_(False)
            disc.random.requires_grad_(False)
            with autocast(cfg.amp, self.device):
                losses, fakes = O.generation_generator_loss(wf, disc, stages, joint, ctx, cfg.loss, cfg.augmentations)
            _finite(losses, step, self.run)
            self._optimize("generation", losses["gen/total"], [*wf.generators.parameters(), *wf.encoders.parameters()])
            disc.encoded.requires_grad_(True)
            disc.random.requires_grad_(True)
            with autocast(cfg.amp, self.device):
                d_losses = O.generation_discriminator_loss(disc, fakes, ctx, cfg.augmentations)
            _finite(d_losses, step, self.run)
            self._optimize("generation_d", d_losses["gen_d/total"],
                           [*disc.encoded.parameters(), *disc.random.parameters()])
            if self.average is not None:
                self.average.update(wf)
        return {k: float(v.detach()) for k, v in {**losses, **d_losses}.items()}

    def checkpoint(self, step: int) -> None:
        if self.world.is_main:
            with _saving(self.run):
                save_checkpoint(self.run, step, self.wf, self.disc, self.optimizers, self.scalers, self.run_config,
                                self.cfg.keep_checkpoints, average=self.average)
        barrier(self.world)


def _networks(spec: WorkflowSpec, model: ModelConfig, cfg: TrainConfig, device: str):
    """Freshly initialised workflow and critics on ``device``, with their optimisers and grad scalers."""
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    wf = init_weights(Workflow(spec, model), cfg.init).to(device, memory_format=fmt)
    disc = init_weights(Discriminators(spec, model), cfg.init).to(device, memory_format=fmt)
    if cfg.accel:  # the same weights and function, computed faster
        wf, disc = accelerate(wf, for_="train"), accelerate(disc, for_="train")
    adam = lambda params: make_adam(params, cfg)  # noqa: E731
    optimizers = {"inference": adam(wf.inference.parameters()),
                  "inference_d": adam(disc.inference.parameters()),
                  "generation": adam([*wf.generators.parameters(), *wf.encoders.parameters()]),
                  "generation_d": adam([*disc.encoded.parameters(), *disc.random.parameters()])}
    scalers = {k: torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16") for k in optimizers}
    return wf, disc, optimizers, scalers


def fresh_trainer(spec: WorkflowSpec, model: ModelConfig, cfg: TrainConfig, device: str, run: Path,
                  world: Dist = Dist()) -> Trainer:
    """Newly initialised networks with the optimisers and the training step ``train`` runs, without a
    dataset, logs or checkpoints: for checks and benchmarks of the step itself. ``run`` is only named
    in errors (a diverged loss); seed torch beforehand for reproducible weights."""
    wf, disc, optimizers, scalers = _networks(spec, model, cfg, device)
    broadcast_module(wf, world)
    broadcast_module(disc, world)
    average = WeightAverage(wf, cfg.ema) if cfg.ema > 0 else None
    return Trainer(wf, disc, optimizers, scalers, average, world, cfg, device, run, {})


def train(data: str | Path, out: str | Path, model: ModelConfig, cfg: TrainConfig, *,
          resume: bool = False, device: str | None = None, progress: bool = True,
          until_step: int | None = None, extend_steps: int = 0, options: dict[str, Any] | None = None,
          on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train a workflow on the dataset at ``data`` into the run folder ``out``.

    ``until_step`` ends the run early at that global step (with a checkpoint), as an interruption
    would; ``resume=True`` continues from the run's latest checkpoint with the plan it recorded, and
    ``extend_steps`` adds that many steps to its last phase. ``options`` (how the run was asked for,
    e.g. the command line's preset) are kept in run.json. Ctrl-C stops after the step in progress,
    writes a checkpoint and ``model/``, and raises ``TrainingInterrupted``."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.amp == "fp16" and not device.startswith("cuda"):
        raise ConfigError("amp=fp16 needs a CUDA device; use amp=bf16 on CPU")
    world = init_distributed(device)
    if device.startswith("cuda") and world.world_size > 1:
        device = f"cuda:{world.local_rank}"
    _check_world(cfg, world)
    run = Path(out)
    _check_out(run, resume)
    ckpt = resumable_checkpoint(run) if resume else None
    torch.manual_seed(cfg.seed)

    ds = StageDataset(data, "train", resolution=model.resolution, load_size=cfg.load_size_for(model.resolution),
                      train=True, flip=cfg.flip, seed=cfg.seed)
    if len(ds) < cfg.batch_size:
        raise DatasetError(f"{data}: {len(ds)} training items, fewer than batch_size {cfg.batch_size}; "
                           "add items or lower the batch size")
    old = _resumed(ckpt, ds.spec, data, model, cfg) if ckpt is not None else None
    plan = _plan(cfg, len(ds) // cfg.batch_size, old, extend_steps)
    run_config = {**(old or {"workflow": ds.spec.to_dict(), "model": to_dict(model), "train": to_dict(cfg),
                             "options": options or {}}), "data": str(Path(data).resolve()), "plan": plan}
    wf, disc, optimizers, scalers = _networks(ds.spec, model, cfg, device)
    step = load_checkpoint(ckpt, wf, disc, optimizers, scalers) if ckpt is not None else 0
    broadcast_module(wf, world)
    broadcast_module(disc, world)
    average = WeightAverage(wf, cfg.ema) if cfg.ema > 0 else None
    if average is not None and ckpt is not None:
        load_average(ckpt, average)
    shown = average.workflow(wf) if average is not None else wf
    end = sum(n for _, n in plan) if until_step is None else min(until_step, sum(n for _, n in plan))
    if world.is_main:
        with _saving(run):
            run.mkdir(parents=True, exist_ok=True)
            atomic_write_text(run / RUN_FILE, json.dumps(run_config, indent=2))
    writer = SampleWriter(run, ds, shown, seed=cfg.seed) if world.is_main else None
    state = Trainer(wf, disc, optimizers, scalers, average, world, cfg, device, run, run_config)
    t0 = time.perf_counter()
    with _StopRequest() as stop:
        step, logged = _loop(state, ds, plan, step, end, writer, progress, on_step, stop)
        if world.is_main:
            # Also when no step was left: a run killed while writing model/ gets it back from --resume.
            with _saving(run):
                shown.save_pretrained(run / "model", discriminators=disc)
    if writer is not None:
        writer.close()
    if stop.requested and step < end:
        raise TrainingInterrupted(f"at step {step} of {end}; wrote {latest_checkpoint(run)} and {run / 'model'}; "
                                  f"continue with: artworkflow train --out {run} --resume")
    return TrainResult(run, step, time.perf_counter() - t0, logged)


def _loop(state: Trainer, ds: StageDataset, plan: list[tuple[str, int]], step: int, end: int,
          writer: SampleWriter | None, progress: bool, on_step, stop: _StopRequest) -> tuple[int, dict[str, float]]:
    """Steps from ``step`` to ``end``, with logging, samples and checkpoints; a stop request ends it
    after the step in progress, with a checkpoint. Returns the last step and its losses."""
    cfg, world = state.cfg, state.world
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    sampler = _GlobalBatches(len(ds), cfg.batch_size, cfg.seed, step, world)
    loader = DataLoader(_Keyed(ds), batch_sampler=sampler, collate_fn=collate_stages,
                        num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0,
                        worker_init_fn=_worker_ignores_interrupt if cfg.num_workers > 0 else None)
    batches = iter(loader)
    local = cfg.batch_size // world.world_size
    bar = None
    if progress and world.is_main:
        from tqdm import tqdm
        bar = tqdm(total=end, initial=step, desc="train", dynamic_ncols=True)
    logged: dict[str, float] = {}
    while step < end:
        phase = phase_at(plan, step)
        stages = [x.to(state.device, non_blocking=True, memory_format=fmt) for x in next(batches)]
        ctx = O.StepContext(cfg.seed, step, torch.arange(world.rank * local, (world.rank + 1) * local),
                            world.world_size)
        logged = state.step(phase, stages, ctx)
        step += 1
        if on_step is not None:
            on_step(step, logged)
        if writer is not None:
            if step % cfg.log_every == 0 or step == end:
                writer.scalars(step, phase, logged)
            if step % cfg.sample_every == 0 or step == end:
                with _saving(state.run):
                    writer.samples(step)
        if bar is not None:
            bar.set_postfix_str(f"{phase} " + " ".join(f"{k.split('/')[0]}={v:.3f}" for k, v in logged.items()
                                                       if k.endswith("total")))
            bar.update(1)
        stopping = any_rank(stop.requested, world, state.device)
        if step % cfg.checkpoint_every == 0 or step == end or stopping:
            state.checkpoint(step)
        if stopping:
            stop.requested = True
            break
    if bar is not None:
        bar.close()
    return step, logged
