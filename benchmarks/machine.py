"""What a benchmark ran on: the machine's description, and how much of it a run gets (the throughput
of one reference convolution)."""
from __future__ import annotations

import os
import platform
import statistics
import time

import torch


def describe(device: str = "cpu") -> dict:
    """The torch build, threads, CPU and load of this run, and the GPU when ``device`` is one: what a
    reader needs to compare numbers from two runs."""
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "load_average": os.getloadavg()}
    if torch.device(device).type == "cuda":
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        out["cuda"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                       "memory_gib": round(props.total_memory / 2**30, 1), "devices": torch.cuda.device_count(),
                       "cuda_version": torch.version.cuda, "bf16": torch.cuda.is_bf16_supported(),
                       "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                       "tf32_cudnn": torch.backends.cudnn.allow_tf32}
    return out


def conv_throughput(rounds: int = 5) -> dict:
    """GFLOP/s of a 3×3, 256-channel, 64×64 convolution now: how much of the machine this run gets."""
    x, w = torch.randn(1, 256, 64, 64), torch.randn(256, 256, 3, 3)
    flop = 2 * 9 * 256 * 256 * 64 * 64
    out = {}
    for amp in ("fp32", "bf16"):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
            torch.nn.functional.conv2d(x, w, padding=1)
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                torch.nn.functional.conv2d(x, w, padding=1)
                times.append(time.perf_counter() - t0)
        out[f"{amp}_gflop_per_s"] = round(flop / statistics.median(times) / 1e9, 1)
    return out
