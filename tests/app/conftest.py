"""Fixtures of the app tests: small untrained workflows for the pure-Python state, and one running
app on the session's tiny trained model for the client and browser tests."""
from __future__ import annotations

import socket
import struct
import zlib
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
    from artworkflow.app.launch import launch
    demo, url = launch(tiny_run, port=free_port(), block=False, quiet=True,
                       output_dir=tmp_path_factory.mktemp("app-out"))
    yield url
    demo.close()


@pytest.fixture(scope="session")
def toy_images(toy_data: Path) -> dict[str, Path]:
    """One test item of the toy dataset: stage name -> image file."""
    names = [p.name for p in sorted((toy_data / "test").iterdir()) if p.is_dir()]
    return {n: sorted((toy_data / "test" / n).glob("*.png"))[0] for n in names}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def grey_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A black 8-bit grey PNG of ``width`` × ``height`` px whose body holds ``rows`` rows (all of
    them by default: a valid file). Black rows compress about 1000:1, so a 12000 × 12000 px image
    (144 M px to decode) is a file of about 140 KB, like a decompression bomb."""
    rows = height if rows is None else rows
    z = zlib.compressobj(6)
    block = bytes((width + 1) * min(rows, 200))
    body = b"".join(z.compress(block[:(width + 1) * min(200, rows - r)]) for r in range(0, rows, 200)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def make_png() -> Callable[..., bytes]:
    return grey_png


@pytest.fixture(scope="session")
def bomb(tmp_path_factory) -> Path:
    """A valid 140 KB PNG that declares 12000 × 12000 px."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(grey_png(12000, 12000))
    return path
