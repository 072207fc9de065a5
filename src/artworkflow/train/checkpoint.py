"""Training checkpoints: a folder per step holding the workflow and discriminator weights
(safetensors), the configs (JSON) and the optimizer state (``torch.load(weights_only=True)``).
A checkpoint is written into a temporary folder and renamed into place, then ``latest`` is
replaced atomically, so a run killed at any moment leaves a loadable checkpoint."""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..errors import CheckpointError
from ..files import atomic_write_text, cpu_state, fsync_dir
from ..workflow import DISCRIMINATORS_FILE, WEIGHTS_FILE, Discriminators, Workflow, load_weights

STATE_FILE = "training_state.pt"
AVERAGE_FILE = "weight_average.safetensors"
RUN_FILE = "run.json"


def save_checkpoint(run: Path, step: int, wf: Workflow, disc: Discriminators,
                    optimizers: dict[str, torch.optim.Optimizer], scalers: dict[str, Any],
                    run_config: dict[str, Any], keep: int = 2, average: torch.nn.Module | None = None) -> Path:
    """Write the checkpoint of ``step`` and point ``latest`` at it; temporary folders that a killed
    run left behind are removed first, and only the newest ``keep`` checkpoints stay. ``model/``
    holds the weights training continues from; the weight average (if any) sits beside it."""
    root = run / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp"
    for stale in root.glob(".step-*.tmp"):
        shutil.rmtree(stale)
    tmp.mkdir()
    try:
        _write_checkpoint(tmp, step, wf, disc, optimizers, scalers, run_config, average)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk gets its space back
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(root / "latest", final.name + "\n")
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-keep]:
        shutil.rmtree(old)
    return final


def _write_checkpoint(tmp: Path, step: int, wf: Workflow, disc: Discriminators,
                      optimizers: dict[str, torch.optim.Optimizer], scalers: dict[str, Any],
                      run_config: dict[str, Any], average: torch.nn.Module | None) -> None:
    wf.save_pretrained(tmp / "model", discriminators=disc)
    state = {"step": step,
             "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
             "scalers": {k: s.state_dict() for k, s in scalers.items()},
             "torch_rng": torch.get_rng_state()}
    torch.save(state, tmp / STATE_FILE)
    if average is not None:
        save_file(cpu_state(average), str(tmp / AVERAGE_FILE))
    (tmp / RUN_FILE).write_text(json.dumps(run_config, indent=2))
    fsync_dir(tmp)


def latest_checkpoint(run: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None when the run has none."""
    root = run / "checkpoints"
    pointer = root / "latest"
    if pointer.is_file():
        cand = root / pointer.read_text().strip()
        if (cand / STATE_FILE).is_file():
            return cand
    done = sorted(p for p in root.glob("step-*") if (p / STATE_FILE).is_file())
    return done[-1] if done else None


def load_checkpoint(ckpt: Path, wf: Workflow, disc: Discriminators,
                    optimizers: dict[str, torch.optim.Optimizer], scalers: dict[str, Any]) -> int:
    load_weights(wf, ckpt / "model" / WEIGHTS_FILE)
    load_weights(disc, ckpt / "model" / DISCRIMINATORS_FILE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=True)
        for k, o in optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in scalers.items():
            s.load_state_dict(state["scalers"][k])
        torch.set_rng_state(state["torch_rng"])
        return int(state["step"])
    except Exception as e:  # noqa: BLE001 - any failure here means an unusable or foreign file
        raise CheckpointError(f"{ckpt / STATE_FILE}: unreadable training state or one of another run "
                              f"({e.__class__.__name__}); delete this checkpoint folder to resume from an "
                              "older one") from None


def load_average(ckpt: Path, average: torch.nn.Module) -> None:
    """Restore the weight average of a checkpoint (a run started with train.ema > 0 always has one)."""
    load_weights(average, ckpt / AVERAGE_FILE)


def read_run_config(ckpt: Path, fix: str = "delete this checkpoint folder to resume from an older one"
                    ) -> dict[str, Any]:
    """The run config in ``ckpt``/run.json (a checkpoint's, or the run folder's own): the one reader of
    that file, whose damage is one ``CheckpointError`` ending in ``fix``."""
    try:
        data = json.loads((ckpt / RUN_FILE).read_text())
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not {"workflow", "model", "train"} <= set(data):
        raise CheckpointError(f"{ckpt / RUN_FILE}: unreadable or incomplete run config; {fix}")
    return data
