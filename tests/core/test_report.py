"""The one page writer and the one strip/GIF writer."""
from __future__ import annotations

import re

import torch
from PIL import Image

from artworkflow.data.images import save_image
from artworkflow.report.page import Figure, Section, render_page, write_page
from artworkflow.report.workflow_files import write_gif, write_strip


def test_page_escapes_text_and_sizes_images_from_their_headers(tmp_path):
    save_image(torch.zeros(3, 20, 40), tmp_path / "a.png")
    page = write_page(tmp_path / "index.html", "t<1>", [
        Section("s & t", "<script>x</script>", [Figure("a.png", "cap 'q'"), Figure("gone.png")],
                table={"l1": 0.5}, links=[("run/index.html", "run")])], scale=2.0)
    text = page.read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text and "t&lt;1&gt;" in text
    assert re.search(r'src="a.png"[^>]*width="80"', text)
    assert 'src="gone.png"' in text and 'width=""' not in text
    assert '<a href="run/index.html">run</a>' in text and "<td>l1</td><td>0.5</td>" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "index.html"]


def test_render_without_folder_leaves_widths_unset():
    text = render_page("t", [Section(figures=[Figure("x.png", "c", width=7), Figure("y.png")])])
    assert 'width="7"' in text and '<img src="y.png" alt="y.png">' in text


def test_strip_and_gif_show_every_stage(tmp_path):
    stages = [torch.full((1, 1, 8, 8), -1.0), torch.full((1, 3, 8, 8), 1.0), torch.zeros(3, 8, 8)]
    strip = Image.open(write_strip(stages, tmp_path / "s.png"))
    assert strip.height < strip.width and strip.width > 3 * 8
    gif = Image.open(write_gif(stages, tmp_path / "deep" / "w.gif", frame_ms=100))
    assert gif.n_frames == 3 and gif.info["loop"] == 0
    frames = []
    for i in range(3):
        gif.seek(i)
        frames.append(gif.convert("RGB").getpixel((4, 4)))
    assert frames[0] == (0, 0, 0) and frames[1] == (255, 255, 255)
    assert not list(tmp_path.glob("**/.*.tmp"))
