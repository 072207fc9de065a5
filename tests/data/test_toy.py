import numpy as np
import pytest
from PIL import Image

from artworkflow.data.layout import list_ids, read_spec, validate
from artworkflow.data.toy import make_toy_dataset, render_item, toy_spec
from artworkflow.errors import ConfigError, DatasetError


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "ds", stages=3, size=40, count=6, test_count=2)


def test_layout_and_channels(toy):
    spec = read_spec(toy)
    assert spec.names == ["sketch", "flat", "shaded"] and spec.channels == [1, 3, 3]
    assert validate(toy)["splits"] == {"train": 6, "test": 2}
    assert list_ids(toy, "train") == [f"{i:05d}" for i in range(6)]
    for stage, mode in (("sketch", "L"), ("flat", "RGB"), ("shaded", "RGB")):
        img = Image.open(toy / "train" / stage / "00000.png")
        assert img.mode == mode and img.size == (40, 40)


def test_same_seed_same_bytes_other_seed_differs(tmp_path, toy):
    again = make_toy_dataset(tmp_path / "again", stages=3, size=40, count=6, test_count=2)
    assert _files(again) == _files(toy)
    other = make_toy_dataset(tmp_path / "other", stages=3, size=40, count=6, test_count=2, seed=1)
    other_files, toy_files = _files(other), _files(toy)
    assert other_files.keys() == toy_files.keys()
    assert all(other_files[k] != toy_files[k] for k in toy_files if k.endswith(".png"))


def test_sketch_is_the_outline_drawn_in_the_later_stages(toy):
    for i in range(6):
        sketch = np.asarray(Image.open(toy / "train" / "sketch" / f"{i:05d}.png"), np.float32) / 255
        assert 0.02 < (sketch < 0.5).mean() < 0.3
        assert sketch.max() == 1.0
        inked = sketch < 0.4
        assert inked.any()
        for stage in ("flat", "shaded"):
            colour = np.asarray(Image.open(toy / "train" / stage / f"{i:05d}.png"), np.float32) / 255
            assert colour[inked].max() < 0.5


def test_colours_are_random_per_item():
    backgrounds = {render_item(0, i, 32, 2)[1].getpixel((1, 1)) for i in range(12)}
    assert len(backgrounds) >= 3
    sketches = {render_item(0, i, 32, 3)[0].tobytes() for i in range(4)}
    assert len(sketches) == 4


def test_stage_counts():
    assert toy_spec(2).names == ["sketch", "flat"]
    assert toy_spec(4).names == ["sketch", "flat", "shaded", "lit"]
    images = render_item(7, 0, 33, 4)
    assert [im.mode for im in images] == ["L", "RGB", "RGB", "RGB"]
    assert all(im.size == (33, 33) for im in images)
    with pytest.raises(ConfigError):
        toy_spec(5)
    with pytest.raises(ConfigError):
        toy_spec(1)


def test_default_test_count(tmp_path):
    root = make_toy_dataset(tmp_path / "d", stages=2, size=16, count=3)
    assert len(list_ids(root, "test")) == 8


def test_refuses_non_empty_folder_and_overwrite_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "README.txt"
    keep.write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        make_toy_dataset(out, stages=2, size=16, count=2, test_count=1)
    make_toy_dataset(out, stages=2, size=16, count=2, test_count=1, overwrite=True)
    first = _files(out)
    make_toy_dataset(out, stages=2, size=16, count=2, test_count=1, seed=5, overwrite=True)
    assert keep.read_text() == "mine"
    assert _files(out).keys() == first.keys()
    assert not list(out.rglob("*.tmp"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        make_toy_dataset(tmp_path / "file", stages=2, size=16, count=1, test_count=1)


def test_true_alternatives_change_only_the_chosen_stage():
    from artworkflow.data.toy import render_alternatives

    base = [np.asarray(im, np.float32) for im in render_item(0, 3, 32, 4, "test")]
    for stage in (1, 2, 3):
        alts = [np.asarray(im, np.float32) for im in render_alternatives(0, 3, stage, 4, 32, 4)]
        assert np.array_equal(alts[0], base[stage]), "variant 0 is the item itself"
        assert len({a.tobytes() for a in alts}) >= 3, "the alternatives differ at that stage"
        for v in range(1, 4):
            others = render_item(0, 3, 32, 4, "test", {stage: v})
            for k in range(stage):
                assert np.array_equal(np.asarray(others[k], np.float32), base[k]), (stage, v, k)


def test_alternatives_are_written_next_to_the_dataset(tmp_path):
    from artworkflow.data.toy import make_toy_dataset

    out = make_toy_dataset(tmp_path / "toy", stages=3, size=32, count=4, test_count=2, alternatives=3)
    files = sorted(p.relative_to(out / "alternatives").as_posix() for p in (out / "alternatives").rglob("*.png"))
    assert len(files) == 2 * 2 * 3 and files[0] == "flat/00000/0.png"
    assert (out / "alternatives" / "flat" / "00000" / "0.png").read_bytes() == \
        (out / "test" / "flat" / "00000.png").read_bytes()
