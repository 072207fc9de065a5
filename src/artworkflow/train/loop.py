"""The training loop: inference nets (separate, then joint), then generation stages (separate, then
joint), one explicit optimisation step per phase. Resumable, data-parallel under torchrun, with
TensorBoard scalars, sample grids and atomic checkpoints."""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..accel import accelerate
from ..config import ModelConfig, TrainConfig, WorkflowSpec, to_dict
from ..data.dataset import StageDataset, collate_stages
from ..errors import CheckpointError, ConfigError, DatasetError, TrainingDivergedError
from ..files import atomic_write_text
from ..nn.init import init_weights
from ..precision import autocast
from ..workflow import Discriminators, Workflow
from . import objectives as O
from .checkpoint import latest_checkpoint, load_average, load_checkpoint, read_run_config, save_checkpoint
from .distributed import Dist, average_gradients, barrier, broadcast_module, init_distributed
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
    """Options that must not change across a resume (logging and length may)."""
    free = ("max_steps", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "num_workers",
            "channels_last", "accel")
    return {k: v for k, v in train.items() if k not in free}


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


def train(data: str | Path, out: str | Path, model: ModelConfig, cfg: TrainConfig, *,
          resume: bool = False, device: str | None = None, progress: bool = True,
          until_step: int | None = None,
          on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train a workflow on the dataset at ``data`` into the run folder ``out``.

    ``until_step`` ends the run early at that global step (with a checkpoint), as an interruption
    would; ``resume=True`` continues from the run's latest checkpoint."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if cfg.amp == "fp16" and not device.startswith("cuda"):
        raise ConfigError("amp=fp16 needs a CUDA device; use amp=bf16 on CPU")
    world = init_distributed(device)
    if device.startswith("cuda") and world.world_size > 1:
        device = f"cuda:{world.local_rank}"
    _check_world(cfg, world)
    run = Path(out)
    torch.manual_seed(cfg.seed)

    ds = StageDataset(data, "train", resolution=model.resolution, load_size=cfg.load_size_for(model.resolution),
                      train=True, flip=cfg.flip, seed=cfg.seed)
    spec: WorkflowSpec = ds.spec
    if len(ds) < cfg.batch_size:
        raise DatasetError(f"{data}: {len(ds)} training items, fewer than batch_size {cfg.batch_size}; "
                           "add items or lower the batch size")
    run_config = {"data": str(Path(data).resolve()), "workflow": spec.to_dict(), "model": to_dict(model),
                  "train": to_dict(cfg)}

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
    use_scaler = cfg.amp == "fp16"
    scalers = {k: torch.amp.GradScaler("cuda", enabled=use_scaler) for k in optimizers}

    step = 0
    ckpt = latest_checkpoint(run) if resume else None
    if resume and ckpt is None:
        raise CheckpointError(f"{run}: nothing to resume (no complete checkpoint under "
                              f"{run / 'checkpoints'}); drop --resume to start a new run")
    if ckpt is not None:
        old = read_run_config(ckpt)
        if old["workflow"] != spec.to_dict():
            raise CheckpointError(f"{ckpt}: checkpoint of workflow {old['workflow']['name']} "
                                  f"({[s['name'] for s in old['workflow']['stages']]}) does not match "
                                  f"dataset {data} ({spec.names}); use a new --out folder")
        if old["model"] != to_dict(model) or _resume_key(old["train"]) != _resume_key(to_dict(cfg)):
            raise CheckpointError(f"{ckpt}: saved with other model/training options; resume with the "
                                  f"options in {ckpt / 'run.json'} or start a new --out folder")
        step = load_checkpoint(ckpt, wf, disc, optimizers, scalers)
    elif not resume and latest_checkpoint(run) is not None:
        raise CheckpointError(f"{run}: already holds a training run; pass --resume to continue it "
                              "or choose another --out folder")
    broadcast_module(wf, world)
    broadcast_module(disc, world)
    average = WeightAverage(wf, cfg.ema) if cfg.ema > 0 else None
    if average is not None and ckpt is not None:
        load_average(ckpt, average)
    shown = average.workflow(wf) if average is not None else wf

    steps_per_epoch = len(ds) // cfg.batch_size
    plan = schedule(cfg, steps_per_epoch)
    total_steps = sum(n for _, n in plan)
    end = total_steps if until_step is None else min(until_step, total_steps)
    if world.is_main:
        run.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run / "run.json", json.dumps({**run_config, "plan": plan}, indent=2))
    writer = SampleWriter(run, ds, shown, seed=cfg.seed) if world.is_main else None

    sampler = _GlobalBatches(len(ds), cfg.batch_size, cfg.seed, step, world)
    loader = DataLoader(_Keyed(ds), batch_sampler=sampler, collate_fn=collate_stages,
                        num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0)
    batches = iter(loader)
    local = cfg.batch_size // world.world_size
    bar = None
    if progress and world.is_main:
        from tqdm import tqdm
        bar = tqdm(total=end, initial=step, desc="train", dynamic_ncols=True)
    w = cfg.loss
    logged: dict[str, float] = {}
    t0 = time.perf_counter()

    def step_optimizer(name: str, loss: torch.Tensor, params: list) -> None:
        opt, scaler = optimizers[name], scalers[name]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        average_gradients(params, world)
        scaler.step(opt)
        scaler.update()

    while step < end:
        phase = phase_at(plan, step)
        stages = [x.to(device, non_blocking=True, memory_format=fmt) for x in next(batches)]
        ctx = O.StepContext(cfg.seed, step, torch.arange(world.rank * local, (world.rank + 1) * local),
                            world.world_size)
        joint = phase.endswith("joint")
        if phase.startswith("inference"):
            wf.inference.requires_grad_(True)
            disc.inference.requires_grad_(False)
            with autocast(cfg.amp, device):
                losses, pairs = O.inference_generator_loss(wf, disc, stages, joint, w)
            _finite(losses, step, run)
            step_optimizer("inference", losses["inf/total"], list(wf.inference.parameters()))
            disc.inference.requires_grad_(True)
            with autocast(cfg.amp, device):
                d_losses = O.inference_discriminator_loss(disc, pairs)
            _finite(d_losses, step, run)
            step_optimizer("inference_d", d_losses["inf_d/total"], list(disc.inference.parameters()))
        else:
            wf.inference.requires_grad_(False)
            wf.generators.requires_grad_(True)
            wf.encoders.requires_grad_(True)
            disc.encoded.requires_grad_(False)
            disc.random.requires_grad_(False)
            with autocast(cfg.amp, device):
                losses, fakes = O.generation_generator_loss(wf, disc, stages, joint, ctx, w, cfg.augmentations)
            _finite(losses, step, run)
            gen_params = [*wf.generators.parameters(), *wf.encoders.parameters()]
            step_optimizer("generation", losses["gen/total"], gen_params)
            disc.encoded.requires_grad_(True)
            disc.random.requires_grad_(True)
            with autocast(cfg.amp, device):
                d_losses = O.generation_discriminator_loss(disc, fakes, ctx, cfg.augmentations)
            _finite(d_losses, step, run)
            step_optimizer("generation_d", d_losses["gen_d/total"],
                           [*disc.encoded.parameters(), *disc.random.parameters()])
            if average is not None:
                average.update(wf)
        step += 1
        logged = {k: float(v.detach()) for k, v in {**losses, **d_losses}.items()}
        if on_step is not None:
            on_step(step, logged)
        if writer is not None:
            if step % cfg.log_every == 0 or step == end:
                writer.scalars(step, phase, logged)
            if step % cfg.sample_every == 0 or step == end:
                writer.samples(step)
        if bar is not None:
            bar.set_postfix_str(f"{phase} " + " ".join(f"{k.split('/')[0]}={v:.3f}" for k, v in logged.items()
                                                       if k.endswith("total")))
            bar.update(1)
        if step % cfg.checkpoint_every == 0 or step == end:
            if world.is_main:
                save_checkpoint(run, step, wf, disc, optimizers, scalers, run_config, cfg.keep_checkpoints,
                                average=average)
            barrier(world)
    if world.is_main:
        # Also when no step was left: a run killed while writing model/ gets it back from --resume.
        shown.save_pretrained(run / "model", discriminators=disc)
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.close()
    return TrainResult(run, step, time.perf_counter() - t0, logged)
