"""How much of the machine a benchmark run gets: the throughput of one reference convolution."""
from __future__ import annotations

import statistics
import time

import torch


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
