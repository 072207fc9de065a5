"""A training run SIGKILLed at any point, in the middle of a step or of writing a checkpoint, leaves
a checkpoint that loads, and `--resume` then ends with exactly the weights of a run that was never
interrupted. The kill points are exact: killpoint.py pauses the trainer inside the named function
and the test kills it there."""
from __future__ import annotations

import os
import signal
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
    subprocess.run([sys.executable, "-m", "artworkflow", "train", *train_args(toy_data, run, config)],
                   check=True, env=ENV, timeout=120, capture_output=True)
    return weights(run / "model"), weights(latest_checkpoint(run) / "model")


def paused_at(point: str, data: Path, run: Path, config: Path, tmp: Path, err) -> subprocess.Popen:
    """The trainer, started and paused at ``point`` (see killpoint.py)."""
    target, needle, nth, partial, _ = KILL_POINTS[point]
    marker = tmp / "paused"
    proc = subprocess.Popen([sys.executable, str(RUNNER), target, needle, str(nth), str(marker),
                             *(["partial"] if partial else []), "--", *train_args(data, run, config)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 90
    try:
        while not marker.exists():
            assert proc.poll() is None, f"trainer ended before {point}: {Path(err.name).read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"trainer never reached {point}"
            time.sleep(0.05)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def kill_at(point: str, data: Path, run: Path, config: Path, tmp: Path) -> None:
    with open(tmp / "stderr.txt", "w") as err:
        proc = paused_at(point, data, run, config, tmp, err)
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_leaves_a_loadable_checkpoint_and_resume_is_exact(point, toy_data, config, uninterrupted, tmp_path):
    run = tmp_path / "run"
    kill_at(point, toy_data, run, config, tmp_path)
    assert_loadable(run, KILL_POINTS[point][-1])

    subprocess.run([sys.executable, "-m", "artworkflow", "train", *train_args(toy_data, run, config), "--resume"],
                   check=True, env=ENV, timeout=120, capture_output=True)
    assert_loadable(run, STEPS)
    assert not list((run / "checkpoints").glob(".*")), "temporary checkpoint folders left behind"
    for resumed, original in zip((weights(run / "model"), weights(latest_checkpoint(run) / "model")),
                                 uninterrupted):
        assert resumed.keys() == original.keys()
        for k in resumed:
            assert torch.equal(resumed[k], original[k]), k


def test_ctrl_c_writes_a_checkpoint_and_the_model_and_resume_is_exact(toy_data, uninterrupted, tmp_path):
    """SIGINT in the middle of step 4, with checkpoints only every 1000 steps: the step finishes, its
    checkpoint and model/ are written, the trainer exits with 130 and one line that says how to
    continue, and the resumed run ends with the weights of a run that was never interrupted."""
    config = tmp_path / "rare-checkpoints.yaml"
    config.write_text("train:\n  checkpoint_every: 1000\n  sample_every: 1000\n")
    run = tmp_path / "run"
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = paused_at("mid-step", toy_data, run, config, tmp_path, err)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)  # the signal is handled while the step still waits
        (tmp_path / "paused.go").touch()
        assert proc.wait(timeout=90) == 130
    last = (tmp_path / "stderr.txt").read_text().strip().splitlines()[-1]
    assert last.startswith("interrupted: at step 4 of 6; wrote ") and f"artworkflow train --out {run} --resume" in last
    assert_loadable(run, 4)
    assert Workflow.from_pretrained(run).spec.n_stages == 3  # model/ is there

    subprocess.run([sys.executable, "-m", "artworkflow", "train", "--out", str(run), "--resume", "--quiet"],
                   check=True, env=ENV, timeout=120, capture_output=True)
    assert_loadable(run, STEPS)
    assert weights(run / "model").keys() == uninterrupted[0].keys()
    for k, v in weights(run / "model").items():
        assert torch.equal(v, uninterrupted[0][k]), k
