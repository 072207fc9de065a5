"""The app under load: 20 browser sessions at once, each creating and editing its own artwork over
real HTTP (one gradio_client Client per session) on the bundled demo model. Every session gets the
images its own inputs give (to one grey level), the server keeps at most ``max_sessions`` sessions
and its memory stays bounded, and an oversized upload is refused in the middle of it all."""
from __future__ import annotations

import gc
import io
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from artworkflow.app import state as S
from artworkflow.app.launch import launch
from artworkflow.pipeline import WorkflowPipeline

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning",
                                        "ignore:The copy keyword is deprecated:Warning")

SESSIONS = 20
MAX_SESSIONS = 20
K = 2
EDIT_STEPS = 2
RSS_LIMIT_MB = 350
DEADLINE_S = 240
ITEMS = sorted(p.stem for p in (S.SAMPLE_DATA / "train" / "line").glob("*.png"))[:SESSIONS]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb() -> float:
    """Resident memory of this process (server and clients), without psutil."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def image(stage: str, i: int) -> Path:
    return S.SAMPLE_DATA / "train" / stage / f"{ITEMS[i]}.png"


def drawing(path: Path) -> dict:
    f = handle_file(str(path))
    return {"background": f, "layers": [], "composite": f}


def pixels(http: httpx.Client, entries: list[dict]) -> list[np.ndarray]:
    """The gallery images of a reply, fetched from the server like a browser would."""
    return [np.asarray(Image.open(io.BytesIO(http.get(e["image"]["url"]).raise_for_status().content)))
            for e in entries]


def client(url: str) -> Client:
    return Client(url, verbose=False, download_files=False, analytics_enabled=False,
                  httpx_kwargs={"timeout": DEADLINE_S})


def local(tensors: list) -> list[np.ndarray]:
    return [np.asarray(S.display(t)) for t in tensors]


def expected(pipeline: WorkflowPipeline, i: int) -> dict[str, list[np.ndarray]]:
    """What session ``i`` must see (at full size), computed here without the server."""
    channels = pipeline.workflow.spec.channels
    path = S.CreatePath(pipeline, S.read_upload(image("line", i), channels[0]))
    path.variations(K, seed(i))
    first = local(path.full_candidates())
    edit = S.EditState.from_artwork(pipeline, S.read_upload(image("shaded", i), channels[-1]), "adain", EDIT_STEPS)
    edit.resample("flat", seed(i))
    resampled = local(edit.full_stages)
    edit.redraw(1, S.read_upload(image("flat", i), channels[1]))
    redrawn = local(edit.full_stages)
    return {"first": first, "resampled": resampled, "redrawn": redrawn}


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to one grey level: the server computes in its worker threads, whose float rounding
    may differ from this thread's in the last bit before the 8-bit conversion."""
    return a.shape == b.shape and int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


def seed(i: int) -> int:
    return 1000 + 37 * i


def session(url: str, i: int) -> dict[str, list[np.ndarray]]:
    """One browser tab: create (the first variations), then edit (decompose, re-sample, redraw a stage)."""
    c = client(url)
    _, first, *_ = c.predict(drawing(image("line", i)), K, seed(i), api_name="/create_start")
    c.predict(handle_file(str(image("shaded", i))), "adain", EDIT_STEPS, "flat", api_name="/edit_decompose")
    _, _, resampled, *_ = c.predict("flat", seed(i), api_name="/edit_resample")
    _, _, redrawn, *_ = c.predict("flat", drawing(image("flat", i)), api_name="/edit_redraw")
    with httpx.Client(timeout=DEADLINE_S) as http:
        return {"first": pixels(http, first), "resampled": pixels(http, resampled),
                "redrawn": pixels(http, redrawn)}


def oversized_upload(url: str) -> int:
    big = {"files": ("big.png", io.BytesIO(bytes(11 * 1024 * 1024)), "image/png")}
    return httpx.post(f"{url}gradio_api/upload", files=big, timeout=60).status_code


@pytest.fixture()
def demo_app(tmp_path, monkeypatch):
    """The demo model served on 127.0.0.1 with a session cap, without the VGG16 term (the same loss
    on every machine, and the local reference computes it the same way)."""
    for var in ("GRADIO_TEMP_DIR", "GRADIO_EXAMPLES_CACHE", "GRADIO_ANALYTICS_ENABLED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(S, "load_perceptual_or_note", lambda *a, **kw: (None, S.perceptual_note(None)))
    demo, url = launch(None, port=free_port(), block=False, quiet=True, output_dir=tmp_path / "app",
                       concurrency=2, max_sessions=MAX_SESSIONS)
    yield demo, url
    demo.close()


def test_concurrent_sessions_are_isolated_and_memory_is_bounded(demo_app):
    demo, url = demo_app
    assert url.startswith("http://127.0.0.1:")
    t0 = time.monotonic()
    pipeline = WorkflowPipeline.from_pretrained(S.default_model_path())
    want = [expected(pipeline, i) for i in range(SESSIONS)]
    for i in range(SESSIONS):
        for j in range(i):
            assert not close(want[i]["first"][0], want[j]["first"][0]), "the sessions' inputs must differ"
            assert not close(want[i]["redrawn"][-1], want[j]["redrawn"][-1]), "the sessions' inputs must differ"

    warm = client(url)
    warm.predict(drawing(image("line", 0)), K, 0, api_name="/create_start")
    gc.collect()
    before = rss_mb()

    with ThreadPoolExecutor(SESSIONS + 1) as pool:
        refused = pool.submit(oversized_upload, url)
        jobs = [pool.submit(session, url, i) for i in range(SESSIONS)]
        got = [j.result(timeout=max(1.0, DEADLINE_S - (time.monotonic() - t0))) for j in jobs]
        assert refused.result() == 413

    for i, (g, w) in enumerate(zip(got, want)):
        for key in w:
            assert len(g[key]) == len(w[key]), (i, key)
            assert all(close(a, b) for a, b in zip(g[key], w[key])), f"session {i}: {key} is not its own"

    assert len(demo.state_holder.session_data) <= MAX_SESSIONS
    with pytest.raises(Exception, match="start with a line"):
        warm.predict(K, 0, api_name="/create_reroll")

    gc.collect()
    grown = rss_mb() - before
    assert grown < RSS_LIMIT_MB, f"resident memory grew by {grown:.0f} MB"
    assert time.monotonic() - t0 < DEADLINE_S
