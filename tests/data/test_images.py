import io

import numpy as np
import pytest
import torch
from PIL import Image

from artworkflow.data.images import load_image, make_grid, read_size, resize, save_image, to_pil
from artworkflow.errors import ImageError


def test_rgba_is_composited_on_white(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 0] = 255
    a[0, 0, 3] = 255
    a[1, 1, 3] = 128
    Image.fromarray(a, "RGBA").save(tmp_path / "x.png")
    t = load_image(tmp_path / "x.png", 3)
    assert t.shape == (3, 4, 4) and t.dtype == torch.float32
    assert torch.allclose(t[:, 0, 0], torch.tensor([1.0, -1.0, -1.0]))
    assert torch.allclose(t[:, 2, 2], torch.ones(3))
    assert torch.allclose(t[:, 1, 1], torch.tensor([1.0, 0.0, 0.0]), atol=0.01)


def test_la_and_palette_transparency_become_white(tmp_path):
    la = np.zeros((2, 2, 2), np.uint8)
    la[0, 0, 1] = 255
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    g = load_image(tmp_path / "la.png", 1)
    assert g[0, 0, 0] == -1.0 and g[0, 1, 1] == 1.0

    p = Image.new("P", (2, 2), 0)
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    p.putpixel((1, 1), 1)
    p.info["transparency"] = 1
    p.save(tmp_path / "p.png")
    t = load_image(tmp_path / "p.png", 3)
    assert torch.allclose(t[:, 0, 0], torch.tensor([1.0, -1.0, -1.0]))
    assert torch.allclose(t[:, 1, 1], torch.ones(3))


def test_16_bit_grey_is_scaled_to_full_range(tmp_path):
    values = np.array([[0, 65535], [32768, 16384]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode in ("I;16", "I")
    t = load_image(tmp_path / "g16.png", 1)
    expected = torch.tensor([[-1.0, 1.0], [32768 / 65535 * 2 - 1, 16384 / 65535 * 2 - 1]])
    assert torch.allclose(t[0], expected, atol=1e-5)
    rgb = load_image(tmp_path / "g16.png", 3)
    assert rgb.shape == (3, 2, 2) and torch.equal(rgb[0], rgb[2])


def test_32_bit_integer_tiff_uses_16_bit_range(tmp_path):
    Image.new("I", (2, 2), 65535).save(tmp_path / "i.tiff")
    assert torch.allclose(load_image(tmp_path / "i.tiff", 1), torch.ones(1, 2, 2))


def test_channel_conversions(tmp_path):
    Image.new("RGB", (3, 3), (255, 0, 0)).save(tmp_path / "red.png")
    assert load_image(tmp_path / "red.png", 1)[0, 0, 0].item() == pytest.approx(0.299 * 2 - 1, abs=1e-4)
    Image.new("L", (3, 3), 51).save(tmp_path / "grey.png")
    t = load_image(tmp_path / "grey.png", 3)
    assert torch.allclose(t, torch.full((3, 3, 3), 51 / 255 * 2 - 1))
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    assert torch.allclose(load_image(tmp_path / "cmyk.jpg", 3), torch.ones(3, 8, 8), atol=0.02)


def _truncated_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    return data[: len(data) // 2]


@pytest.mark.parametrize("kind, content, words", [
    ("empty", b"", "0 bytes"),
    ("truncated", _truncated_png(), "truncated"),
    ("text", b"not really a picture\n", "not an image"),
], ids=["empty", "truncated", "text"])
def test_bad_files_raise_one_line_naming_the_file(tmp_path, kind, content, words):
    path = tmp_path / f"{kind}_file.png"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        load_image(path, 3)
    message = str(info.value)
    assert f"{kind}_file.png" in message and words in message
    assert "\n" not in message


def test_oversize_is_rejected_from_the_header(tmp_path):
    Image.new("RGB", (40, 20)).save(tmp_path / "big.png")
    assert read_size(tmp_path / "big.png") == (20, 40)
    with pytest.raises(ImageError, match=r"big\.png: image is 40x20, larger than max_side=32"):
        load_image(tmp_path / "big.png", 3, max_side=32)
    with pytest.raises(ImageError, match="big.png"):
        read_size(tmp_path / "big.png", max_side=32)


def test_unknown_mode_and_missing_file(tmp_path):
    Image.new("F", (2, 2), 0.5).save(tmp_path / "float.tiff")
    with pytest.raises(ImageError, match=r"float\.tiff: unsupported image mode 'F'"):
        load_image(tmp_path / "float.tiff", 3)
    with pytest.raises(ImageError, match=r"nothere\.png: file not found"):
        load_image(tmp_path / "nothere.png", 3)


def test_save_and_load_round_trip(tmp_path):
    t = torch.linspace(-1, 1, 3 * 5 * 7).reshape(3, 5, 7)
    path = tmp_path / "deep" / "dir" / "out.png"
    save_image(t, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]
    assert torch.allclose(load_image(path, 3), t, atol=1 / 255 + 1e-6)
    grey = torch.zeros(1, 4, 4)
    save_image(grey, path)
    assert Image.open(path).mode == "L"
    assert to_pil(grey).getpixel((0, 0)) in (127, 128)
    with pytest.raises(ValueError):
        to_pil(torch.zeros(2, 4, 4))


def test_make_grid_mixes_channels_and_row_lengths():
    grey = torch.full((1, 4, 4), -1.0)
    red = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 4, 4)
    grid = make_grid([[grey, red], [red]], pad=1, pad_value=0.5)
    assert grid.shape == (3, 2 * 5 + 1, 2 * 5 + 1)
    assert torch.equal(grid[:, 1:5, 1:5], torch.full((3, 4, 4), -1.0))
    assert torch.equal(grid[:, 1:5, 6:10], red)
    assert torch.equal(grid[:, 6:10, 6:10], torch.full((3, 4, 4), 0.5))
    assert torch.all(grid[:, 0, :] == 0.5)


def test_resize_shapes_and_constants():
    x = torch.full((3, 20, 30), 0.25)
    assert resize(x, 8).shape == (3, 8, 8)
    assert torch.allclose(resize(x, (10, 12)), torch.full((3, 10, 12), 0.25))
    assert resize(x.unsqueeze(0).repeat(2, 1, 1, 1), 16).shape == (2, 3, 16, 16)
    assert resize(x, (20, 30)) is x
