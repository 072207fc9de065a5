"""Data parallelism over torch.distributed (launched by torchrun): every process computes the
gradients of its share of the global batch, then the gradients are averaged with one all-reduce
per optimizer. This is what DistributedDataParallel does, made explicit because a training step
runs several forward passes per network (functional calls with frozen weights included)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Dist:
    """Join the process group when started by torchrun; a plain run is a world of one."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", 0))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
    return Dist(dist.get_rank(), dist.get_world_size(), local)


def average_gradients(params: list[torch.nn.Parameter], world: Dist) -> None:
    if world.world_size == 1:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_module(module: torch.nn.Module, world: Dist) -> None:
    """Start every process from rank 0's weights."""
    if world.world_size == 1:
        return
    for t in module.state_dict().values():
        dist.broadcast(t, 0)


def barrier(world: Dist) -> None:
    if world.world_size > 1:
        dist.barrier()


def any_rank(flag: bool, world: Dist, device: str) -> bool:
    """True on every process when it is true on one, so that a stop request ends every process at
    the same step."""
    if world.world_size == 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
