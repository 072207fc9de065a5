"""A training run SIGKILLed at any point, in the middle of a step or of writing a checkpoint, leaves
a checkpoint that loads, and `--resume` then ends with exactly the weights of a run that was never
interrupted. The kill points are exact: killpoint.py pauses the trainer inside the named function
and the test kills it there."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from artworkflow.train.checkpoint import STATE_FILE, latest_checkpoint, read_run_config
from artworkflow.workflow import Discriminators, Workflow

STEPS = 6
RUNNER = Path(__file__).with_name("killpoint.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
"""One thread in every run, so the interrupted and the uninterrupted run do the same arithmetic."""

KILL_POINTS = {
    # name: (function to pause in, text its first argument contains, nth such call, partial rmtree,
    #        step of the checkpoint a resume must start from)
    "mid-step": ("artworkflow.train.loop:average_gradients", "", 7, False, 3),
    "writing-checkpoint": ("artworkflow.workflow:replace_dir", ".step-00000003.tmp", 1, False, 2),
    "before-rename": ("artworkflow.train.checkpoint:fsync_dir", ".step-00000003.tmp", 1, False, 2),
    "before-first-pointer": ("artworkflow.train.checkpoint:atomic_write_text", "checkpoints/latest", 1, False, 1),
    "pruning": ("shutil:rmtree", "step-00000001", 1, True, 3),
    "writing-final-model": ("artworkflow.workflow:replace_dir", "/run/model.tmp", 1, False, STEPS),
}


def train_args(data: Path, run: Path, config: Path) -> list[str]:
    return ["--data", str(data), "--out", str(run), "--preset", "tiny", "--max-steps", str(STEPS),
            "--quiet", "--device", "cpu", "--config", str(config)]


def weights(model: Path) -> dict[str, torch.Tensor]:
    return {**load_file(str(model / "model.safetensors")),
            **{f"d.{k}": v for k, v in load_file(str(model / "discriminators.safetensors")).items()}}


def assert_loadable(run: Path, step: int) -> None:
    """The checkpoint a resume picks is complete and every part of it loads; ``latest``, when it
    exists, names that checkpoint and never a partial folder."""
    ckpt = latest_checkpoint(run)
    assert ckpt is not None and ckpt.name == f"step-{step:08d}", ckpt
    pointer = run / "checkpoints" / "latest"
    if pointer.exists():
        assert pointer.read_text().strip() == ckpt.name
    Workflow.from_pretrained(ckpt / "model")
    Discriminators.from_pretrained(ckpt / "model")
    assert torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=True)["step"] == step
    read_run_config(ckpt)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("interrupt") / "frequent-checkpoints.yaml"
    path.write_text("train:\n  checkpoint_every: 1\n  sample_every: 1000\n")
    return path


@pytest.fixture(scope="module")
def uninterrupted(toy_data, config, tmp_path_factory) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The saved model (with tiny's weight average, the averaged weights) and the last checkpoint's
    training weights of a run that was never interrupted."""
    run = tmp_path_factory.mktemp("interrupt") / "run"
    subprocess.run([sys.executable, "-m", "artworkflow.train", *train_args(toy_data, run, config)],
                   check=True, env=ENV, timeout=120, capture_output=True)
    return weights(run / "model"), weights(latest_checkpoint(run) / "model")


def kill_at(point: str, data: Path, run: Path, config: Path, tmp: Path) -> None:
    target, needle, nth, partial, _ = KILL_POINTS[point]
    marker, log = tmp / "paused", tmp / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, str(RUNNER), target, needle, str(nth), str(marker),
                                 *(["partial"] if partial else []), "--", *train_args(data, run, config)],
                                env=ENV, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 90
        try:
            while not marker.exists():
                assert proc.poll() is None, f"trainer ended before {point}: {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, f"trainer never reached {point}"
                time.sleep(0.05)
        finally:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_leaves_a_loadable_checkpoint_and_resume_is_exact(point, toy_data, config, uninterrupted, tmp_path):
    run = tmp_path / "run"
    kill_at(point, toy_data, run, config, tmp_path)
    assert_loadable(run, KILL_POINTS[point][-1])

    subprocess.run([sys.executable, "-m", "artworkflow.train", *train_args(toy_data, run, config), "--resume"],
                   check=True, env=ENV, timeout=120, capture_output=True)
    assert_loadable(run, STEPS)
    assert not list((run / "checkpoints").glob(".*")), "temporary checkpoint folders left behind"
    for resumed, original in zip((weights(run / "model"), weights(latest_checkpoint(run) / "model")),
                                 uninterrupted):
        assert resumed.keys() == original.keys()
        for k in resumed:
            assert torch.equal(resumed[k], original[k]), k
