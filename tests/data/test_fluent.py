import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from artworkflow.data.layout import read_spec
from artworkflow.data.recipes import fluent
from artworkflow.data.recipes.build import split_of
from artworkflow.errors import DatasetError

RECT = '<rect x="4" y="4" width="24" height="24" fill="{fill}" stroke="currentColor" stroke-width="2"/>'
CIRCLE = '<circle cx="16" cy="16" r="12" fill="{fill}"/>'
ICONS = {
    "red-square": (RECT, "1f7e5"),
    "blue-circle": (CIRCLE, "1f535"),
    "waving-hand": (CIRCLE, "1f44b"),
    "waving-hand-dark": (CIRCLE, "1f44b-1f3ff"),
    "green-star": (RECT, "2b50"),
}
STAGE_FILL = {"line": "none", "flat": "#3080f0", "shaded": "#f08030"}


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _iconify_tarball(path, stage, names):
    icons = {n: {"body": ICONS[n][0].format(fill=STAGE_FILL[stage])} for n in names}
    chars = {ICONS[n][1]: n for n in names} if stage != "shaded" else {}
    meta = {"categories": {"Symbols": [n for n in names if "hand" not in n],
                           "People": [n for n in names if "hand" in n]}}
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "package/icons.json", json.dumps({"prefix": "x", "icons": icons, "width": 32, "height": 32}).encode())
        _add(tar, "package/chars.json", json.dumps(chars).encode())
        _add(tar, "package/metadata.json", json.dumps(meta).encode())
        _add(tar, "package/package.json", b"{}")


def _render_tarball(path, codepoints):
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "package/package.json", b"{}")
        for cp in codepoints:
            buf = io.BytesIO()
            Image.new("RGBA", (256, 256), (200, 0, 0, 0)).save(buf, format="WEBP")
            _add(tar, f"package/assets/{cp}.webp", buf.getvalue())


@pytest.fixture
def cache(tmp_path, monkeypatch):
    def no_npm(*args, **kwargs):
        raise AssertionError("npm must not be called when tarballs are cached")

    monkeypatch.setattr(fluent.subprocess, "run", no_npm)
    cache = tmp_path / "cache"
    cache.mkdir()
    everything = list(ICONS)
    for stage, names in {"line": everything, "flat": everything,
                         "shaded": [n for n in everything if n != "green-star"]}.items():
        _iconify_tarball(cache / fluent.tarball_name(*fluent.PACKAGES[stage]), stage, names)
    _render_tarball(cache / fluent.tarball_name(*fluent.PACKAGES["render3d"]), ["1f7e5-fe0f", "1f535", "2b50"])
    return cache


def _ids(root, split, stage):
    return sorted(p.stem for p in (root / split / stage).glob("*.png"))


def test_build_three_stages_skips_skin_tone_and_missing(cache, tmp_path):
    pytest.importorskip("resvg_py")
    out = tmp_path / "fluent"
    report = fluent.build_fluent_emoji(out, stages=3, size=32, cache_dir=cache, test_fraction=0.5, progress=False)
    spec = read_spec(out)
    assert spec.names == ["line", "flat", "shaded"] and spec.channels == [1, 3, 3]
    assert report["train"] + report["test"] == 3
    assert report["skipped"]["skin_tone"] == 1 and report["skipped"]["not_in_all_stages"] == 1
    assert report["missing_by_stage"]["shaded"]["examples"] == ["green-star"]
    built = []
    for split in ("train", "test"):
        ids = _ids(out, split, "line")
        assert all(_ids(out, split, s) == ids for s in spec.names)
        assert all(split_of(i, 0.5) == split for i in ids)
        built += ids
    assert sorted(built) == ["blue-circle", "red-square", "waving-hand"]
    split = split_of("red-square", 0.5)
    line = Image.open(out / split / "line" / "red-square.png")
    assert line.mode == "L" and line.size == (32, 32)
    pixels = np.asarray(line)
    assert pixels[0, 0] == 255 and pixels.min() < 50
    flat = np.asarray(Image.open(out / split / "flat" / "red-square.png"))
    assert flat.shape == (32, 32, 3) and tuple(flat[16, 16]) == (0x30, 0x80, 0xF0)
    licence = (out / fluent.LICENSE_FILE).read_text()
    assert "MIT License" in licence and "Copyright (c) Microsoft Corporation." in licence


def test_build_four_stages_needs_a_3d_render(cache, tmp_path):
    pytest.importorskip("resvg_py")
    out = tmp_path / "fluent4"
    report = fluent.build_fluent_emoji(out, stages=4, size=32, cache_dir=cache, progress=False)
    assert read_spec(out).names == ["line", "flat", "shaded", "render3d"]
    assert report["train"] + report["test"] == 2
    assert report["missing_by_stage"]["render3d"]["examples"] == ["waving-hand"]
    split = split_of("red-square", 0.1)
    render = np.asarray(Image.open(out / split / "render3d" / "red-square.png"))
    assert render.shape == (32, 32, 3) and (render == 255).all()


def test_limit_picks_a_deterministic_subset(cache, tmp_path):
    pytest.importorskip("resvg_py")
    a = fluent.build_fluent_emoji(tmp_path / "a", size=16, cache_dir=cache, limit=2, progress=False)
    b = fluent.build_fluent_emoji(tmp_path / "b", size=16, cache_dir=cache, limit=2, progress=False)
    assert a["train"] + a["test"] == 2
    assert {p.name for p in (tmp_path / "a").rglob("*.png")} == {p.name for p in (tmp_path / "b").rglob("*.png")}
    assert b["train"] + b["test"] == 2


def test_refuses_unsafe_tarball_members(tmp_path):
    tgz = tmp_path / "evil-1.0.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        _add(tar, "package/icons.json", b"{}")
        _add(tar, "../escaped.txt", b"x")
    with pytest.raises(DatasetError, match="unsafe"):
        fluent.extract_tarball(tgz)
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert not (tmp_path / "evil-1.0.0").exists()


def test_skin_tone_detection():
    names = {"waving-hand", "police-car"}
    assert fluent.is_skin_tone("waving-hand-dark", "1f44b-1f3ff", names)
    assert not fluent.is_skin_tone("police-car-light", "1f6a8", names)
    assert fluent.is_skin_tone("waving-hand-medium-light", None, names)
    assert not fluent.is_skin_tone("vertical-traffic-light", None, names)


def test_codepoints_match_across_spellings():
    assert fluent.normalise_codepoints("0039-FE0F-20E3") == fluent.normalise_codepoints("39-20e3")
    assert fluent.tarball_name("@iconify-json/fluent-emoji", "1.2.7") == "iconify-json-fluent-emoji-1.2.7.tgz"


def test_select_mixes_categories_and_keeps_the_split_fraction():
    names = [f"{c}-{i}" for c in "abcd" for i in range(60)]
    chosen = fluent.select(names, {n: n[0] for n in names}, 20, 0.1)
    per_category = [sum(n[0] == c for n in chosen) for c in "abcd"]
    assert len(chosen) == 20 and min(per_category) >= 3
    assert sum(split_of(n, 0.1) == "test" for n in chosen) == 2
    assert chosen == fluent.select(list(reversed(names)), {n: n[0] for n in names}, 20, 0.1)
