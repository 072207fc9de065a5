"""Uploads are refused from what their header declares (file size, format, side, pixel count)
before anything decodes them, and an unreadable upload gets the app's own one-line message: in
``state`` and in every event that takes an image, for files and for the bytes the page sends."""
from __future__ import annotations

import io
import time

import gradio as gr
import pytest
from gradio.components.image_editor import EditorDataBlobs
from PIL import Image, ImageFile

from artworkflow.app import handlers as H
from artworkflow.app import state as S
from artworkflow.errors import ImageError

FAST_S = 0.5
"""Reading a header takes milliseconds; decoding the 12000 × 12000 px bomb takes seconds."""


@pytest.fixture()
def no_decoding(monkeypatch) -> list[str]:
    """Make any decode of pixel data fail the test (Pillow decodes in ``load``)."""
    calls: list[str] = []

    def refuse(self, *args, **kwargs):
        calls.append(type(self).__name__)
        raise AssertionError(f"pixels of a {self.size} image were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(Image.Image, "load", refuse)
    return calls


@pytest.fixture(scope="module")
def ctx(make_pipeline, tmp_path_factory) -> H.AppContext:
    return H.AppContext.create(make_pipeline(3), tmp_path_factory.mktemp("app"), perceptual=None)


def drawing(composite) -> dict:
    return {"background": None, "layers": [], "composite": composite, "id": None}


def test_a_bomb_is_refused_from_its_header_fast_and_undecoded(bomb, no_decoding):
    assert bomb.stat().st_size < 165_000
    t0 = time.perf_counter()
    with pytest.raises(ImageError) as e:
        S.read_upload(bomb, 3)
    assert time.perf_counter() - t0 < FAST_S and no_decoding == []
    message = str(e.value)
    assert message.startswith("the uploaded image:") and "12000×12000" in message and "4096 px per side" in message
    assert "\n" not in message and str(bomb.parent) not in message


def test_the_bomb_is_refused_even_with_pillows_pixel_limit_switched_off(bomb, no_decoding, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageError, match="12000×12000"):
        S.check_upload(bomb.read_bytes())
    assert no_decoding == []


def test_pillows_pixel_limit_refuses_what_a_raised_side_limit_lets_through(bomb, make_png, tmp_path,
                                                                           no_decoding):
    with pytest.raises(ImageError, match="12000×12000 px, more than can be decoded safely"):
        S.check_upload(bomb, max_side=20_000)
    huge = tmp_path / "huge.png"
    huge.write_bytes(make_png(20_000, 20_000, rows=1))
    with pytest.raises(ImageError, match="decompression bomb"):
        S.check_upload(huge, max_side=30_000)
    assert no_decoding == []


def test_the_file_size_is_checked_before_the_header(bomb, no_decoding):
    with pytest.raises(ImageError, match=r"the file is 137 KB; the app accepts files up to 100 KB"):
        S.check_upload(bomb, max_bytes=100 * 1024)
    with pytest.raises(ImageError, match="empty"):
        S.check_upload(b"")
    assert no_decoding == []


@pytest.mark.parametrize("fmt", ["BMP", "GIF", "TIFF"])
def test_only_png_jpeg_and_webp_are_opened(tmp_path, fmt):
    path = tmp_path / "image.png"
    Image.new("RGB", (8, 8), "red").save(path, format=fmt)
    with pytest.raises(ImageError) as e:
        S.read_upload(path, 3)
    assert str(e.value) == "the uploaded image: not a PNG, JPEG or WebP image; save it as one of those"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_files_and_bytes_load(tmp_path, fmt):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, format=fmt)
    path = tmp_path / f"image.{fmt.lower()}"
    path.write_bytes(buffer.getvalue())
    assert S.check_upload(path) == (30, 40) == S.check_upload(buffer.getvalue())
    assert S.read_upload(path, 3).shape == S.read_upload(buffer.getvalue(), 3).shape == (3, 30, 40)


def test_a_truncated_body_is_found_when_decoded_with_the_apps_message(make_png, tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(make_png(64, 64)[:60])
    with pytest.raises(ImageError) as e:
        S.read_upload(path, 1)
    assert str(e.value).startswith("the uploaded image:") and str(tmp_path) not in str(e.value)


# ---------------------------------------------------------------- through the events
def test_every_image_event_refuses_the_bomb_undecoded(ctx, bomb, no_decoding):
    file = {"path": str(bomb), "orig_name": "bomb.png", "meta": {"_type": "gradio.FileData"}}
    blobs = {"b": EditorDataBlobs(background=None, layers=[], composite=bomb.read_bytes())}
    calls = [lambda: H.edit_preview(ctx, file),
             lambda: H.edit_decompose(ctx, None, file, "adain", 1, "stage1"),
             lambda: H.create_upload(ctx, file),
             lambda: H.create_start(ctx, None, drawing(file), 2, 0),
             lambda: H.create_start(ctx, None, {**drawing(None), "id": "b"}, 2, 0, blobs=blobs),
             lambda: H.edit_upload_stage(ctx, file, "stage1")]
    for call in calls:
        t0 = time.perf_counter()
        with pytest.raises(gr.Error, match="12000×12000 px; the app accepts at most 4096 px per side"):
            call()
        assert time.perf_counter() - t0 < FAST_S
    assert no_decoding == [] and blobs == {}


def test_an_unreadable_upload_gets_the_apps_one_line_message(ctx, tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image at all")
    calls = [lambda: H.edit_preview(ctx, str(fake)),
             lambda: H.edit_decompose(ctx, None, str(fake), "none", 0, "stage1"),
             lambda: H.create_start(ctx, None, drawing(str(fake)), 2, 0)]
    for call in calls:
        with pytest.raises(gr.Error) as e:
            call()
        assert e.value.message == "the uploaded image: not a PNG, JPEG or WebP image; save it as one of those"


def test_a_drawing_sent_as_blobs_is_read_once_and_forgotten(ctx):
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buffer, format="PNG")
    sketch = Image.new("L", (64, 64), 255)
    sketch.paste(0, (16, 16, 48, 48))
    drawn = io.BytesIO()
    sketch.save(drawn, format="PNG")
    blobs = {"d": EditorDataBlobs(background=buffer.getvalue(), layers=[], composite=drawn.getvalue())}
    session, status, variations, *_ = H.create_start(ctx, None, {**drawing(None), "id": "d"}, 2, 5, blobs=blobs)
    assert blobs == {} and len(variations) == 2 and "Stage 2" in status
    assert not S.is_blank(session.create.steps[0].image)


def test_uploads_are_put_on_the_canvas_at_drawing_size(ctx, tmp_path):
    path = tmp_path / "line.png"
    Image.new("L", (300, 200), 255).save(path)
    value = H.create_upload(ctx, str(path))
    assert value["background"].size == (900, 600) and value["layers"] == []  # own aspect, up to DRAW_SIZE
    assert H.edit_preview(ctx, str(path)).size == (300, 200)  # the artwork at its own size
    Image.new("L", (2048, 1024), 255).save(path)
    assert H.edit_preview(ctx, str(path)).size == (S.APP_MAX_SIZE, S.APP_MAX_SIZE // 2)
