"""Shared fixtures: a small procedural dataset and one tiny trained model per test session."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    from artworkflow.data.toy import make_toy_dataset
    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "data", stages=3, size=64, count=32, test_count=8)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, toy_data) -> Path:
    """A tiny 3-stage model trained briefly through every phase (shared by editing, app and CLI tests)."""
    from artworkflow.config import preset, replace
    from artworkflow.train.loop import train
    model, cfg = preset("tiny")
    cfg = replace(cfg, {"max_steps": 40, "sample_every": 40, "checkpoint_every": 40})
    run = tmp_path_factory.mktemp("runs") / "tiny"
    train(toy_data, run, model, cfg, progress=False)
    return run


@pytest.fixture(scope="module")
def workflow(tiny_run):
    """The tiny trained model, loaded once per test module."""
    from artworkflow.workflow import Workflow
    return Workflow.from_pretrained(tiny_run)
