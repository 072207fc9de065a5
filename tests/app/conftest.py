"""Fixtures of the app tests: small untrained workflows for the pure-Python state, and one running
app on the session's tiny trained model for the client and browser tests."""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from artworkflow.config import StageSpec, WorkflowSpec, preset
from artworkflow.pipeline import WorkflowPipeline
from artworkflow.workflow import Workflow


def random_pipeline(n_stages: int, seed: int = 0) -> WorkflowPipeline:
    """An untrained n-stage, 64 px workflow (grey first stage, RGB after): enough to exercise every
    operation of the app without training anything."""
    spec = WorkflowSpec(f"test-{n_stages}", tuple(StageSpec(f"stage{i}", 1 if i == 0 else 3) for i in range(n_stages)))
    model, _ = preset("tiny")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wf = Workflow(spec, model)
    return WorkflowPipeline(wf)


@pytest.fixture(scope="session")
def make_pipeline() -> Callable[..., WorkflowPipeline]:
    return random_pipeline


@pytest.fixture(scope="module", params=[3, 4], ids=["3-stage", "4-stage"])
def pipeline(request) -> WorkflowPipeline:
    return random_pipeline(request.param)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tiny_run: Path, tmp_path_factory) -> Iterator[str]:
    """The app on the tiny trained model, served on 127.0.0.1 at a free port for the whole session."""
    from artworkflow.app.commands import launch
    demo, url = launch(tiny_run, port=free_port(), block=False, quiet=True,
                       output_dir=tmp_path_factory.mktemp("app-out"))
    yield url
    demo.close()


@pytest.fixture(scope="session")
def toy_images(toy_data: Path) -> dict[str, Path]:
    """One test item of the toy dataset: stage name -> image file."""
    names = [p.name for p in sorted((toy_data / "test").iterdir()) if p.is_dir()]
    return {n: sorted((toy_data / "test" / n).glob("*.png"))[0] for n in names}
