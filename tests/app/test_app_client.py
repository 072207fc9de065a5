"""The running app driven through its HTTP API with gradio_client (one Client = one browser
session), on the session's tiny trained 3-stage model (sketch → flat → shaded)."""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageFile

import artworkflow

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning",
                                        "ignore:The copy keyword is deprecated:Warning")
"""Gradio's queue (not this project) trips pandas 3 deprecation warnings."""


@pytest.fixture()
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def pixels(entry: dict | str) -> np.ndarray:
    return np.asarray(Image.open(entry["image"] if isinstance(entry, dict) else entry))


def drawing(path: Path) -> dict:
    """What an image editor sends: the background and the composite of what was drawn on it."""
    f = handle_file(str(path))
    return {"background": f, "layers": [], "composite": f}


def test_create_variations_pick_and_finish(client, toy_images):
    status, variations, pick, path, files, seed = client.predict(
        drawing(toy_images["sketch"]), 3, 7, api_name="/create_start")
    assert len(variations) == 3 and all(pixels(v).shape[:2] == (64, 64) for v in variations)
    assert "flat" in status and len(path) == 1 and files is None and seed == 7
    assert [c[1] for c in pick["choices"]] == [0, 1, 2]
    assert [v["caption"] for v in variations] == ["1 · flat · seed 7", "2 · flat · seed 8", "3 · flat · seed 9"]

    status, variations2, _, path, files, _ = client.predict(2, 3, 7, api_name="/create_pick")
    assert len(path) == 2 and np.array_equal(pixels(path[1]), pixels(variations[2]))
    assert path[1]["caption"] == "flat · seed 9"
    assert "shaded" in status and len(variations2) == 3 and files is None

    *_, seed = client.predict(3, 7, api_name="/create_reroll")
    assert seed == 10
    status, _, _, path, files, _ = client.predict(0, 3, 10, api_name="/create_pick")
    assert "Finished" in status and len(path) == 3 and path[2]["caption"] == "shaded · seed 10"
    assert sorted(Path(f).suffix for f in files) == [".gif", ".ora", ".png", ".png", ".psd"]
    final = next(f for f in files if f.endswith("final.png"))
    assert np.array_equal(pixels(final), pixels(path[2]))


def test_edit_changes_only_the_chosen_stage_and_later(client, toy_images):
    summary, inferred, current, history, files, editor = client.predict(
        handle_file(str(toy_images["shaded"])), "adain", 3, "flat", api_name="/edit_decompose")
    assert "ℓ1" in summary and "reconstruct (current)" in history
    assert [c["caption"] for c in current] == ["sketch", "flat", "shaded"] and len(inferred) == 3
    reconstruction = [pixels(c) for c in current]

    *_, current, history, files, editor, next_seed = client.predict("flat", 5, api_name="/edit_resample")
    resampled = [pixels(c) for c in current]
    assert np.array_equal(resampled[0], reconstruction[0])
    assert not all(np.array_equal(a, b) for a, b in zip(resampled[1:], reconstruction[1:]))
    assert "resample flat (seed 5)" in history and next_seed == 6 and len(files) == 5

    *_, current, history, _, _ = client.predict("shaded", drawing(toy_images["shaded"]), api_name="/edit_redraw")
    redrawn = [pixels(c) for c in current]
    assert all(np.array_equal(a, b) for a, b in zip(redrawn[:2], resampled[:2]))
    assert "set image of shaded" in history

    for expected in (resampled, reconstruction):
        *_, current, history, _, _ = client.predict("flat", api_name="/edit_undo")
        assert all(np.array_equal(pixels(c), e) for c, e in zip(current, expected))
    assert history == "1. **reconstruct (current)**"


def test_sessions_are_separate(client, app_url, toy_images):
    client.predict(drawing(toy_images["sketch"]), 2, 0, api_name="/create_start")
    other = Client(app_url, verbose=False)
    with pytest.raises(Exception, match="start with a sketch"):
        other.predict(2, 0, api_name="/create_reroll")


def test_refuses_oversized_and_blank_images_with_a_clear_message(client, tmp_path):
    Image.new("RGB", (4100, 16), "white").save(tmp_path / "wide.png")
    with pytest.raises(Exception, match="at most 4096 px per side"):
        client.predict(handle_file(str(tmp_path / "wide.png")), "adain", 1, "flat", api_name="/edit_decompose")
    Image.new("RGBA", (512, 512), (0, 0, 0, 0)).save(tmp_path / "canvas.png")
    with pytest.raises(Exception, match="sketch is empty"):
        client.predict(drawing(tmp_path / "canvas.png"), 2, 0, api_name="/create_start")


def test_local_only_capped_uploads_and_serves_no_other_files(app_url):
    assert app_url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{app_url}config").json()["analytics_enabled"] is False
    for path in ("/etc/passwd", artworkflow.__file__):
        assert httpx.get(f"{app_url}gradio_api/file={path}").status_code in (403, 404)
    big = {"files": ("big.png", io.BytesIO(bytes(11 * 1024 * 1024)), "image/png")}
    assert httpx.post(f"{app_url}gradio_api/upload", files=big).status_code == 413


def test_a_bomb_sent_through_the_api_is_refused_from_its_header(client, bomb, monkeypatch):
    """The server runs in this process, so a decode anywhere in it (Gradio's or the app's) is seen."""
    decoded: list[tuple[int, int]] = []

    def load(self, *args, **kwargs):
        decoded.append(self.size)
        return original(self, *args, **kwargs)

    original = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    for args, api in (((handle_file(str(bomb)), "adain", 1, "flat"), "/edit_decompose"),
                      ((drawing(bomb), 2, 0), "/create_start")):
        t0 = time.perf_counter()
        with pytest.raises(Exception, match="12000×12000 px; the app accepts at most 4096 px per side"):
            client.predict(*args, api_name=api)
        assert time.perf_counter() - t0 < 3.0
    assert (12000, 12000) not in decoded


def test_an_unreadable_upload_gets_the_apps_message(client, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image at all")
    for args, api in (((handle_file(str(fake)), "adain", 1, "flat"), "/edit_decompose"),
                      ((drawing(fake), 2, 0), "/create_start")):
        with pytest.raises(Exception) as e:
            client.predict(*args, api_name=api)
        assert "the uploaded image: not a PNG, JPEG or WebP image; save it as one of those" in str(e.value)


@pytest.mark.parametrize("args, api, message", [
    ((None, 99, 0), "/create_start", "variations per stage must be a whole number between 1 and 8, got 99"),
    ((2, -1), "/create_reroll", "seed must be a whole number between 0 and"),
    ((None, "z", 1, "flat"), "/edit_decompose", "reconstruction must be one of 'none', 'adain', 'adain+learned', 'auto'"),
    ((None, "adain", 5000, "flat"), "/edit_decompose", "optimisation steps per stage must be a whole number"),
    (("paint", 0), "/edit_resample", "stage to change must be one of 'sketch', 'flat', 'shaded', got 'paint'"),
])
def test_values_out_of_range_name_the_control(client, args, api, message):
    with pytest.raises(Exception, match=re.escape(message)):
        client.predict(*args, api_name=api)
