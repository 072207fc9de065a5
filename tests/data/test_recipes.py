import numpy as np
import pytest
from PIL import Image

from artworkflow.data.layout import read_spec
from artworkflow.data.recipes.build import build_from_images, split_of
from artworkflow.data.recipes.flat import flat_colouring, remove_background
from artworkflow.data.recipes.sketch import pencil_sketch
from artworkflow.data.recipes.superpixel import rough_colouring
from artworkflow.errors import DatasetError

DARK = (20, 40, 160)
LIGHT = (250, 220, 120)


def two_colour(h=32, w=32, split=16):
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:, :split] = DARK
    rgb[:, split:] = LIGHT
    return rgb


def colours(rgb):
    return {tuple(int(v) for v in c) for c in rgb.reshape(-1, 3)}


def test_flat_colouring_gives_one_median_colour_per_label():
    rgb = two_colour(split=14)
    labels = np.ones((32, 32), np.int64)
    labels[:, 16:] = 2
    flat = flat_colouring(rgb, labels)
    assert colours(flat) == {DARK, LIGHT}
    assert (flat[:, :16] == DARK).all() and (flat[:, 16:] == LIGHT).all()


def test_flat_colouring_and_remove_background_paint_background_white():
    rgb = two_colour()
    labels = np.zeros((32, 32), np.int64)
    labels[8:24, 8:24] = 3
    flat = flat_colouring(rgb, labels)
    final = remove_background(rgb, labels)
    assert (flat[labels == 0] == 255).all() and (final[labels == 0] == 255).all()
    assert (final[labels == 3] == rgb[labels == 3]).all()
    assert len(colours(flat[8:24, 8:24])) == 1


def test_pencil_sketch_draws_dark_line_on_colour_boundary_and_white_elsewhere():
    sketch = pencil_sketch(two_colour(64, 64, 32))
    assert sketch.shape == (64, 64) and sketch.dtype == np.uint8
    assert (sketch[:, 28:36].min(axis=1) < 100).all()
    assert sketch[:, :20].min() > 240 and sketch[:, 44:].min() > 240
    assert np.array_equal(sketch, pencil_sketch(two_colour(64, 64, 32)))


def test_rough_colouring_keeps_two_colours():
    rough = rough_colouring(two_colour(64, 64, 30), n_segments=20)
    assert rough.shape == (64, 64, 3) and rough.dtype == np.uint8
    assert colours(rough) == {DARK, LIGHT}


def _write_images(folder, n=8):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        rgb = np.repeat(np.repeat(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), 10, 0), 10, 1)
        Image.fromarray(rgb).save(folder / f"img{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")


def _ids(root, split, stage):
    return sorted(p.stem for p in (root / split / stage).glob("*.png"))


def test_build_from_images_anime(tmp_path):
    src = tmp_path / "src"
    _write_images(src)
    out = tmp_path / "out"
    report = build_from_images(src, out, "anime", size=24, test_fraction=0.3, progress=False)
    spec = read_spec(out)
    assert spec.names == ["sketch", "rough", "final"] and spec.channels == [1, 3, 3]
    assert report["train"] + report["test"] == 8
    assert [s["file"] for s in report["skipped"]] == [str(src / "broken.png")]
    for split in ("train", "test"):
        ids = _ids(out, split, "final")
        assert all(split_of(i, 0.3) == split for i in ids)
        assert all(_ids(out, split, stage) == ids for stage in spec.names)
        assert len(ids) == report[split]
    image = Image.open(out / "train" / "sketch" / f"{_ids(out, 'train', 'sketch')[0]}.png")
    assert image.size == (24, 24) and image.mode == "L"

    again = tmp_path / "again"
    build_from_images(src, again, "anime", size=24, test_fraction=0.3, progress=False)
    assert _ids(again, "test", "final") == _ids(out, "test", "final")


def test_build_refuses_non_empty_output_unless_overwrite(tmp_path):
    src = tmp_path / "src"
    _write_images(src, 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError):
        build_from_images(src, out, "anime", size=16, progress=False)
    build_from_images(src, out, "anime", size=16, overwrite=True, progress=False)
    assert (out / "notes.txt").read_text() == "mine"


def test_build_from_images_face_needs_masks_and_lists_missing_ones(tmp_path):
    src, masks = tmp_path / "src", tmp_path / "masks"
    _write_images(src, 3)
    masks.mkdir()
    for i in range(2):
        labels = np.zeros((30, 40), np.uint8)
        labels[5:25, 10:30] = 1
        Image.fromarray(labels).save(masks / f"img{i}.png")
    with pytest.raises(DatasetError):
        build_from_images(src, tmp_path / "nomask", "face", size=16, progress=False)
    out = tmp_path / "out"
    report = build_from_images(src, out, "face", masks=masks, size=16, progress=False)
    assert report["train"] + report["test"] == 2
    assert sorted(s["file"] for s in report["skipped"]) == [str(src / "broken.png"), str(src / "img2.png")]
    assert read_spec(out).names == ["sketch", "flat", "final"]
    split = split_of("img0", 0.1)
    final = np.asarray(Image.open(out / split / "final" / "img0.png"))
    assert (final[0, 0] == 255).all()


def test_build_from_images_walks_sub_folders(tmp_path):
    """A folder of only sub-folders is built, item ids come from the relative paths, and a file that
    cannot be used is reported with its path and the reason."""
    src = tmp_path / "src"
    src.mkdir()
    _write_images(src / "cats", 2)
    _write_images(src / "dogs", 1)
    (src / "dogs" / "deep").mkdir()
    Image.new("RGB", (30, 30), (200, 10, 10)).save(src / "dogs" / "deep" / "img0.png")
    out = tmp_path / "out"
    report = build_from_images(src, out, "anime", size=16, test_fraction=0.0, progress=False)
    assert _ids(out, "train", "final") == ["cats__img0", "cats__img1", "dogs__deep__img0", "dogs__img0"]
    assert sorted(s["file"] for s in report["skipped"]) == [str(src / "cats" / "broken.png"),
                                                           str(src / "dogs" / "broken.png")]
    assert all(s["reason"] for s in report["skipped"])


def test_a_build_without_a_test_split_warns_at_build_and_validate_time(tmp_path, capsys):
    from artworkflow.cli import main
    src = tmp_path / "src"
    _write_images(src, 2)
    out = tmp_path / "out"
    build_from_images(src, out, "anime", size=16, test_fraction=0.0, progress=False)
    err = capsys.readouterr().err
    assert f"warning: {out}: none of the 2 items fell into the test split" in err and "--test-fraction" in err
    assert main(["dataset", "validate", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"warning: {out / 'test'}: no test split") and "evaluate" in captured.err
    assert "ok" in captured.out
