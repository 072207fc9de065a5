import pytest
from PIL import Image

from artworkflow.config import StageSpec, WorkflowSpec
from artworkflow.data.layout import image_path, item_paths, list_ids, stage_dir, validate, write_spec
from artworkflow.errors import DatasetError

SPEC = WorkflowSpec("t", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("shaded", 3)))


def _dataset(root, ids=("a", "b", "c"), splits=("train",), size=(8, 8)):
    write_spec(root, SPEC)
    for split in splits:
        for stage in SPEC.stages:
            folder = stage_dir(root, split, stage.name)
            folder.mkdir(parents=True)
            for i in ids:
                Image.new("L" if stage.channels == 1 else "RGB", size).save(folder / f"{i}.png")
    return root


def test_list_ids_sorted_and_ignores_clutter(tmp_path):
    root = _dataset(tmp_path, ids=("b", "a", "c10", "c2"))
    sketch = stage_dir(root, "train", "sketch")
    (sketch / ".DS_Store").write_bytes(b"\0")
    (sketch / "Thumbs.db").write_bytes(b"\0")
    (sketch / "._a.png").write_bytes(b"\0")
    (sketch / "notes.txt").write_text("x")
    (sketch / "old").mkdir()
    Image.new("L", (8, 8)).save(sketch / "old" / "zzz.png")
    assert list_ids(root, "train") == ["a", "b", "c10", "c2"]
    assert [p.parent.name for p in item_paths(root, "train")["a"]] == ["sketch", "flat", "shaded"]


def test_other_suffixes_and_image_path(tmp_path):
    root = _dataset(tmp_path, ids=("a",))
    flat = stage_dir(root, "train", "flat")
    (flat / "a.png").unlink()
    Image.new("RGB", (8, 8)).save(flat / "a.JPG", format="JPEG")
    assert list_ids(root, "train") == ["a"]
    assert image_path(root, "train", "flat", "a").name == "a.JPG"
    assert image_path(root, "train", "sketch", "a").name == "a.png"
    with pytest.raises(DatasetError, match="zz"):
        image_path(root, "train", "sketch", "zz")


def test_missing_and_extra_files_are_named(tmp_path):
    root = _dataset(tmp_path)
    (stage_dir(root, "train", "sketch") / "b.png").unlink()
    Image.new("RGB", (8, 8)).save(stage_dir(root, "train", "flat") / "stray.png")
    with pytest.raises(DatasetError) as info:
        list_ids(root, "train")
    lines = str(info.value).splitlines()
    assert "add each missing file or remove each extra one" in lines[0]
    assert any(str(stage_dir(root, "train", "sketch") / "b.png") in ln and "missing" in ln for ln in lines)
    assert any(str(stage_dir(root, "train", "flat") / "stray.png") in ln and "extra" in ln for ln in lines)
    assert not any("c.png" in ln for ln in lines)


def test_long_mismatch_lists_are_cut(tmp_path):
    root = _dataset(tmp_path, ids=[f"{i:03d}" for i in range(30)])
    for i in range(30):
        (stage_dir(root, "train", "shaded") / f"{i:03d}.png").unlink()
    with pytest.raises(DatasetError, match=r"and 20 more"):
        list_ids(root, "train")


def test_duplicate_ids_with_different_suffixes(tmp_path):
    root = _dataset(tmp_path, ids=("a",))
    Image.new("L", (8, 8)).save(stage_dir(root, "train", "sketch") / "a.webp")
    with pytest.raises(DatasetError, match=r"a\.webp: same item id as a\.png"):
        list_ids(root, "train")


def test_missing_split_and_stage_folders(tmp_path):
    root = _dataset(tmp_path)
    with pytest.raises(DatasetError, match=r"test: split folder not found"):
        list_ids(root, "test")
    for p in stage_dir(root, "train", "flat").iterdir():
        p.unlink()
    stage_dir(root, "train", "flat").rmdir()
    with pytest.raises(DatasetError, match=r"flat: stage folder not found"):
        list_ids(root, "train")


def test_validate_counts_present_splits(tmp_path):
    root = _dataset(tmp_path, splits=("train",))
    report = validate(root)
    assert report["spec"] == SPEC
    assert report["splits"] == {"train": 3}
    _dataset(tmp_path / "both", splits=("train", "test"), ids=("x", "y"))
    assert validate(tmp_path / "both")["splits"] == {"train": 2, "test": 2}


def test_validate_names_size_mismatch_and_collects_all_problems(tmp_path):
    root = _dataset(tmp_path, splits=("train", "test"))
    bad_size = stage_dir(root, "train", "shaded") / "b.png"
    Image.new("RGB", (8, 6)).save(bad_size)
    empty = stage_dir(root, "test", "flat") / "c.png"
    empty.write_bytes(b"")
    (stage_dir(root, "test", "sketch") / "a.png").unlink()
    with pytest.raises(DatasetError) as info:
        validate(root)
    message = str(info.value)
    first, rest = message.splitlines()[0], message.splitlines()[1:]
    assert "3 problem(s)" in first and str(bad_size) in first and "8x6" in first
    assert any(str(empty) in ln and "0 bytes" in ln for ln in rest)
    assert any("a.png" in ln and "missing" in ln for ln in rest)
    assert validate(root, splits=("train",), check_images=False)["splits"] == {"train": 3}


def test_validate_without_any_split(tmp_path):
    write_spec(tmp_path, SPEC)
    with pytest.raises(DatasetError, match="no split folder found"):
        validate(tmp_path)
    stage_dir(tmp_path, "train", "sketch").mkdir(parents=True)
    stage_dir(tmp_path, "train", "flat").mkdir(parents=True)
    stage_dir(tmp_path, "train", "shaded").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        validate(tmp_path)
