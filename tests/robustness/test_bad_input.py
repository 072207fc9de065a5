"""A corpus of bad input, generated here. Every case must fail the command line with one stderr line
that names the file and says how to fix it (``--debug`` re-raises instead), fail the Python API with
a specific ``ArtworkflowError``, and leave every file the user had exactly as it was. Files that
could run code when loaded (pickles) must never be unpickled."""
from __future__ import annotations

import ast
import builtins
import hashlib
import io
import json
import pickle
import re
import shutil
import struct
import subprocess
import sys
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import artworkflow
from artworkflow.cli import main
from artworkflow.config import model_config_from_dict, preset, replace
from artworkflow.data.dataset import StageDataset
from artworkflow.data.images import load_image
from artworkflow.data.layout import read_spec, validate
from artworkflow.errors import ArtworkflowError, CheckpointError, ConfigError, DatasetError, ImageError
from artworkflow.evaluate import evaluate
from artworkflow.nn.inception import load_inception
from artworkflow.nn.vgg import load_vgg16
from artworkflow.pipeline import WorkflowPipeline
from artworkflow.train.loop import train
from artworkflow.workflow import Workflow

CKPT = "checkpoints/step-00000001"
SHOWN_BY_DEFAULT = (UserWarning, RuntimeWarning, FutureWarning)


# ---------------------------------------------------------------- shared inputs
@pytest.fixture(scope="module")
def data(toy_data, tmp_path_factory) -> Path:
    """Four training items (one batch of the tiny preset) and two test items of the toy workflow."""
    root = tmp_path_factory.mktemp("bad-input") / "data"
    for split, n in (("train", 4), ("test", 2)):
        for stage in (toy_data / split).iterdir():
            (root / split / stage.name).mkdir(parents=True)
            for f in sorted(stage.glob("*.png"))[:n]:
                shutil.copy(f, root / split / stage.name / f.name)
    shutil.copy(toy_data / "workflow.yaml", root / "workflow.yaml")
    return root


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Path:
    """A run with one checkpoint, trained with the tiny preset as ``train --max-steps 4`` would."""
    model, cfg = preset("tiny")
    out = tmp_path_factory.mktemp("bad-input-run") / "run"
    train(data, out, model, replace(cfg, {"max_steps": 4}), progress=False, device="cpu", until_step=1)
    return out


@pytest.fixture(scope="module")
def pipe(run) -> WorkflowPipeline:
    return WorkflowPipeline.from_pretrained(run)


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under the roots with its hash: what a failing command must leave untouched."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def user_output(folder: Path) -> Path:
    """An output folder that already holds the user's results from an earlier run."""
    folder.mkdir(parents=True)
    (folder / "index.html").write_text("<p>my earlier results</p>")
    (folder / "input.png").write_bytes(b"my earlier input")
    return folder


def png(width: int, height: int, depth: int, colour: int, pixels: bytes) -> bytes:
    """A PNG written by hand, for what Pillow will not write: 16-bit RGB, or a header that lies."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


def png_header(width: int, height: int) -> bytes:
    """A grey PNG that claims width x height but holds almost no data: a decompression bomb's shape."""
    return png(width, height, 8, 0, b"\0" * 64)


def truncated_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def copy_data(data: Path, to: Path) -> Path:
    shutil.copytree(data, to)
    return to


def first(folder: Path) -> Path:
    return sorted(folder.glob("*.png"))[0]


# ---------------------------------------------------------------- the check every case goes through
@dataclass
class Case:
    argv: list
    api: Callable[[], object] | None
    error: type[ArtworkflowError]
    file: Path
    fix: str
    keep: list[Path] = field(default_factory=list)


def check(case: Case, capsys) -> None:
    """One line ``error: <file>: <what>; <fix>``, no traceback, no warning; ``--debug`` raises; the API
    raises the specific type; every kept file is unchanged."""
    argv = [str(a) for a in case.argv]
    before = snapshot(*case.keep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {case.file}: "), lines[0]
    assert case.fix in lines[0] and "Traceback" not in err and out == ""
    assert not [w for w in caught if issubclass(w.category, SHOWN_BY_DEFAULT)], [str(w.message) for w in caught]
    with pytest.raises(case.error, match=re.escape(str(case.file))):
        main(["--debug", *argv])
    if case.api is not None:
        with pytest.raises(case.error, match=re.escape(str(case.file))):
            case.api()
    assert snapshot(*case.keep) == before


# ---------------------------------------------------------------- bad image files, wherever an image is read
BAD_IMAGES = {
    "empty": (b"", "re-export the image"),
    "truncated": (truncated_png(), "re-export or copy it again"),
    "not_an_image": (b"name,colour\nsky,blue\n", "save it as PNG"),
    "over_max_side": (png_header(5000, 5000), "downscale it"),
    "bomb_warning_size": (png_header(20000, 5000), "downscale it"),
    "bomb_error_size": (png_header(100000, 100000), "downscale it"),
}


def image_case(where: str, content: bytes, fix: str, tmp: Path, data: Path, run: Path, pipe) -> Case:
    if where in ("validate", "train"):
        ds = copy_data(data, tmp / "data")
        bad = first(ds / "train" / "flat")
        bad.write_bytes(content)
        if where == "validate":
            return Case(["dataset", "validate", ds], lambda: validate(ds), DatasetError, bad, fix, [ds])
        return Case(["train", "--data", ds, "--out", tmp / "new-run", "--quiet", "--device", "cpu", "--max-steps", "4"],
                    lambda: list(StageDataset(ds)), DatasetError, bad, fix, [ds])
    inputs, out = tmp / "inputs", user_output(tmp / "out")
    inputs.mkdir()
    bad = inputs / "art.png"
    bad.write_bytes(content)
    edit = ["edit", "--model", run, "--out", out, "--method", "none", "--steps", "0", "--quiet"]
    if where == "generate":
        return Case(["generate", "--model", run, "--input", bad, "--out", out, "--variations", "1"],
                    lambda: pipe.load(bad), ImageError, bad, fix, [inputs, out])
    if where == "edit":
        return Case([*edit, "--input", bad], lambda: load_image(bad, 3), ImageError, bad, fix, [inputs, out])
    final = shutil.copy(first(data / "test" / "shaded"), inputs / "final.png")
    return Case([*edit, "--input", final, "--stage-image", f"flat={bad}"], lambda: load_image(bad, 3),
                ImageError, bad, fix, [inputs, out])


@pytest.mark.parametrize("where", ["generate", "edit", "stage_image", "validate", "train"])
@pytest.mark.parametrize("kind", list(BAD_IMAGES))
def test_bad_image(kind, where, tmp_path, data, run, pipe, capsys):
    check(image_case(where, *BAD_IMAGES[kind], tmp_path, data, run, pipe), capsys)


def test_a_truncated_image_in_a_dataloader_worker_is_still_one_line(tmp_path, data, capsys):
    ds = copy_data(data, tmp_path / "data")
    bad = first(ds / "train" / "flat")
    bad.write_bytes(truncated_png())
    check(Case(["train", "--data", ds, "--out", tmp_path / "run", "--quiet", "--device", "cpu", "--max-steps", "4",
                "--num-workers", "1"], lambda: list(StageDataset(ds)), ImageError, bad, "re-export", [ds]), capsys)


def test_decompression_bombs_are_refused_from_the_header(tmp_path, monkeypatch):
    """The cap is checked before any pixel is decoded, and Pillow's bomb warning never reaches the user."""
    def no_decoding(self):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    for width, height in ((5000, 5000), (20000, 5000), (100000, 100000), (4097, 1)):
        path = tmp_path / f"{width}x{height}.png"
        path.write_bytes(png_header(width, height))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ImageError, match=rf"{path.name}: .*downscale it"):
                load_image(path, 3)


def test_the_command_line_itself_prints_one_line_and_debug_a_traceback(tmp_path, run):
    """Through a real process, so that warnings print as they would for a user."""
    bad = tmp_path / "huge.png"
    bad.write_bytes(png_header(20000, 5000))
    argv = [sys.executable, "-m", "artworkflow.cli"]
    args = ["generate", "--model", str(run), "--input", str(bad), "--out", str(tmp_path / "out")]
    plain = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=300)
    assert plain.returncode == 2
    assert plain.stderr.splitlines() == [plain.stderr.strip()] and plain.stderr.startswith(f"error: {bad}: ")
    debug = subprocess.run([*argv, "--debug", *args], capture_output=True, text=True, timeout=300)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ImageError" in debug.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- images that convert sensibly load correctly
def sixteen_bit_rgb_png(pixels: np.ndarray) -> bytes:
    h, w, _ = pixels.shape
    return png(w, h, 16, 2, b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h)))


def write_convertible(kind: str, path: Path) -> torch.Tensor:
    """Write an image of ``kind`` and return the RGB values in [-1, 1] it should load as."""
    red = torch.tensor([1.0, -1.0, -1.0])
    if kind == "grey_16_bit":
        Image.fromarray(np.full((8, 8), 65535 // 4, np.uint16)).save(path)
        return torch.full((3,), (65535 // 4) / 65535 * 2 - 1)
    if kind == "rgb_16_bit":
        pixels = np.zeros((8, 8, 3), np.uint16)
        pixels[..., 0] = 65535
        path.write_bytes(sixteen_bit_rgb_png(pixels))
        return red
    if kind == "palette":
        img = Image.new("P", (8, 8), 1)
        img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
        img.save(path)
        return red
    if kind == "cmyk_jpeg_named_png":
        Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, format="JPEG", quality=100)
        return red
    if kind == "grey_for_rgb":
        Image.new("L", (8, 8), 51).save(path)
        return torch.full((3,), 51 / 255 * 2 - 1)
    Image.new("RGB", (8, 8), (255, 0, 0)).save(path)
    return red


CONVERTIBLE = ["grey_16_bit", "rgb_16_bit", "palette", "cmyk_jpeg_named_png", "grey_for_rgb", "rgb_for_grey"]


@pytest.mark.parametrize("kind", CONVERTIBLE)
def test_convertible_images_load_correctly(kind, tmp_path, run, capsys):
    """A mode with one sensible RGB and grey reading loads as that, from the command line too."""
    path = tmp_path / f"{kind}.png"
    want = write_convertible(kind, path)
    rgb = load_image(path, 3)
    assert rgb.shape == (3, 8, 8)
    assert torch.allclose(rgb, want[:, None, None].expand(3, 8, 8), atol=0.03)
    grey = load_image(path, 1)
    luma = (want + 1) / 2 @ torch.tensor([0.299, 0.587, 0.114]) * 2 - 1
    assert torch.allclose(grey, luma.expand(1, 8, 8), atol=0.03)
    assert main(["generate", "--model", str(run), "--input", str(path), "--out", str(tmp_path / "out"),
                 "--variations", "1"]) == 0
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- workflow.yaml and dataset layout
WORKFLOW_YAML = {
    "bad_yaml": (b"name: faces\nstages: [{name: sketch, channels: 1}\n", "fix the syntax"),
    "not_text": (b"\xff\xfe\x00\x01stages", "save it as UTF-8"),
    "no_stages": (b"name: faces\n", "name the stages in order"),
    "stages_not_a_list": (b"stages: 3\n", "e.g. stages:"),
    "stage_not_a_mapping": (b"stages: [sketch, flat, shaded]\n", "must be a mapping with 'name'"),
    "one_stage": (b"stages: [{name: sketch, channels: 1}]\n", "list every stage"),
    "repeated_names": (b"stages: [{name: a, channels: 1}, {name: a, channels: 3}]\n", "give each stage its own"),
    "four_channels": (b"stages: [{name: sketch, channels: 4}, {name: flat, channels: 3}]\n", "use 1 (grey) or 3"),
    "channels_text": (b"stages: [{name: sketch, channels: one}, {name: flat}]\n", "use 1 (grey) or 3"),
    "channels_float": (b"stages: [{name: sketch, channels: 1.5}, {name: flat}]\n", "use 1 (grey) or 3"),
    "misspelt_stage_key": (b"stages: [{name: sketch, chanels: 1}, {name: flat, channels: 3}]\n",
                           "unknown key 'chanels' in stage 'sketch'; the known keys are name, channels"),
    "misspelt_key": (b"name: faces\nstage: 3\nstages: [{name: sketch, channels: 1}, {name: flat}]\n",
                     "unknown key 'stage'; the known keys are name, stages"),
}


@pytest.mark.parametrize("command", ["validate", "train"])
@pytest.mark.parametrize("kind", list(WORKFLOW_YAML))
def test_bad_workflow_yaml(kind, command, tmp_path, data, capsys):
    ds = copy_data(data, tmp_path / "data")
    (ds / "workflow.yaml").write_bytes(WORKFLOW_YAML[kind][0])
    argv = (["dataset", "validate", ds] if command == "validate" else
            ["train", "--data", ds, "--out", tmp_path / "run", "--quiet", "--device", "cpu"])
    check(Case(argv, lambda: read_spec(ds), DatasetError, ds / "workflow.yaml", WORKFLOW_YAML[kind][1], [ds]), capsys)


def break_layout(kind: str, ds: Path) -> tuple[Path, str]:
    """Damage a dataset copy; returns the path the message must name and the fix it must give."""
    flat = ds / "train" / "flat"
    if kind == "mismatched_sizes":
        Image.new("RGB", (48, 48)).save(first(flat))
        return first(flat), "resize or re-export it"
    if kind == "missing_stage_file":
        gone = first(flat)
        gone.unlink()
        return gone, "add it or remove the item's other files"
    if kind == "extra_file":
        Image.new("RGB", (64, 64)).save(flat / "zz-extra.png")
        return flat / "zz-extra.png", "remove it or add the missing stages"
    shutil.rmtree(flat)
    return flat, "create it"


@pytest.mark.parametrize("command", ["validate", "train"])
@pytest.mark.parametrize("kind", ["mismatched_sizes", "missing_stage_file", "extra_file", "missing_stage_folder"])
def test_bad_dataset_layout(kind, command, tmp_path, data, capsys):
    ds = copy_data(data, tmp_path / "data")
    bad, fix = break_layout(kind, ds)
    if command == "validate":
        check(Case(["dataset", "validate", ds], lambda: validate(ds), DatasetError, bad, fix, [ds]), capsys)
    else:
        check(Case(["train", "--data", ds, "--out", tmp_path / "run", "--quiet", "--device", "cpu"],
                   lambda: StageDataset(ds), DatasetError, bad, fix, [ds]), capsys)


# ---------------------------------------------------------------- model folders: config.json and safetensors
def break_model(kind: str, m: Path) -> tuple[Path, str]:
    """Damage a model folder copy; returns the path the message must name and the fix it must give."""
    config, weights = m / "config.json", m / "model.safetensors"
    text = config.read_text()
    saved = json.loads(text)
    if kind == "config_truncated":
        config.write_text(text[: len(text) // 2])
    elif kind == "config_empty":
        config.write_text("")
    elif kind == "config_not_a_mapping":
        config.write_text("[]")
        return config, "pass a run folder"
    elif kind == "config_wrong_type":
        saved["model"]["resolution"] = "64"
        config.write_text(json.dumps(saved))
    elif kind in ("other_stage_count", "other_channels"):
        stages = saved["workflow"]["stages"]
        if kind == "other_stage_count":
            stages.append({"name": "lit", "channels": 3})
        else:
            stages[0]["channels"] = 3
        config.write_text(json.dumps(saved))
        return weights, "keep model.safetensors with the config.json"
    elif kind == "weights_garbage":
        weights.write_bytes(b"\x00garbage" * 10)
        return weights, "restore it from a backup"
    elif kind == "weights_truncated":
        weights.write_bytes(weights.read_bytes()[:4096])
        return weights, "restore it from a backup"
    elif kind == "weights_not_finite":
        state = load_file(str(weights))
        state["generators.0.mlp.net.0.weight"][0, 0] = float("nan")
        save_file(state, str(weights))
        return weights, "tensors hold NaN or infinite values (e.g. generators.0.mlp.net.0.weight)"
    else:
        weights.unlink()
        return weights, "restore it from a backup"
    return config, "restore it from a backup"


MODEL_CASES = ["config_truncated", "config_empty", "config_not_a_mapping", "config_wrong_type", "other_stage_count",
               "other_channels", "weights_garbage", "weights_truncated", "weights_not_finite", "weights_missing"]


@pytest.mark.parametrize("command", ["generate", "edit"])
@pytest.mark.parametrize("kind", MODEL_CASES)
def test_bad_model_folder(kind, command, tmp_path, data, run, capsys):
    m = shutil.copytree(run / "model", tmp_path / "model")
    bad, fix = break_model(kind, m)
    out = user_output(tmp_path / "out")
    image = first(data / "test" / ("sketch" if command == "generate" else "shaded"))
    argv = ([command, "--model", m, "--input", image, "--out", out] +
            (["--method", "none", "--steps", "0"] if command == "edit" else []))
    check(Case(argv, lambda: Workflow.from_pretrained(m), CheckpointError, bad, fix, [m, out, data]), capsys)


@pytest.mark.parametrize("command", ["generate", "edit", "train-regularizer"])
@pytest.mark.parametrize("kind", ["dataset", "empty_folder"])
def test_a_folder_that_is_no_model_says_what_a_model_folder_is(kind, command, tmp_path, data, capsys):
    folder = copy_data(data, tmp_path / "data") if kind == "dataset" else tmp_path / "nothing"
    folder.mkdir(exist_ok=True)
    image = first(data / "test" / ("sketch" if command == "generate" else "shaded"))
    argv = {"generate": ["generate", "--model", folder, "--input", image, "--out", tmp_path / "out"],
            "edit": ["edit", "--model", folder, "--input", image, "--out", tmp_path / "out", "--method", "none"],
            "train-regularizer": ["train-regularizer", "--model", folder, "--stage", "flat"]}[command]
    fix = ("is a dataset (it holds workflow.yaml), not a model; train one on it with `artworkflow train --data "
           f"{folder} --out runs/x` and pass the run folder runs/x" if kind == "dataset" else
           "so not a model; pass a run folder made by `artworkflow train` (e.g. runs/x) or its model/ folder")
    check(Case(argv, lambda: Workflow.from_pretrained(folder), CheckpointError, folder, fix, [folder]), capsys)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- resuming with other data or a damaged checkpoint
def other_workflow(data: Path, to: Path, kind: str) -> Path:
    ds = copy_data(data, to)
    text = (ds / "workflow.yaml").read_text()
    if kind == "other_stage_count":
        for split in ("train", "test"):
            shutil.rmtree(ds / split / "shaded")
        text = text[: text.index("- name: shaded")]
    else:
        text = text.replace("channels: 1", "channels: 3")
    (ds / "workflow.yaml").write_text(text)
    return ds


def break_run(kind: str, r: Path, data: Path, tmp: Path) -> tuple[Path, Path, str]:
    """Damage a run copy or pick mismatching data; returns the data, the path named and the fix."""
    ckpt = r / CKPT
    if kind in ("other_stage_count", "other_channels"):
        return other_workflow(data, tmp / "other", kind), ckpt, "use a new --out folder"
    if kind == "checkpoint_weights_corrupt":
        (ckpt / "model" / "model.safetensors").write_bytes(b"\x00garbage" * 10)
        return data, ckpt / "model" / "model.safetensors", "restore it from a backup"
    if kind == "training_state_truncated":
        state = ckpt / "training_state.pt"
        state.write_bytes(state.read_bytes()[:1000])
        return data, state, "delete this checkpoint folder"
    if kind == "training_state_of_another_kind":
        torch.save({"step": 1, "optimizers": {}}, ckpt / "training_state.pt")
        return data, ckpt / "training_state.pt", "delete this checkpoint folder"
    (ckpt / "run.json").write_text('{"workflow": ')
    return data, ckpt / "run.json", "delete this checkpoint folder"


RESUME_CASES = ["other_stage_count", "other_channels", "checkpoint_weights_corrupt", "training_state_truncated",
                "training_state_of_another_kind", "run_json_truncated"]


def resume_argv(ds: Path, r: Path, resume: bool = True) -> list:
    return ["train", "--data", ds, "--out", r, "--max-steps", "4", "--quiet", "--device", "cpu"] + (
        ["--resume"] if resume else [])


def resume_api(ds: Path, r: Path) -> Callable[[], object]:
    model, cfg = preset("tiny")
    return lambda: train(ds, r, model, replace(cfg, {"max_steps": 4}), resume=True, device="cpu", progress=False)


@pytest.mark.parametrize("kind", RESUME_CASES)
def test_bad_resume(kind, tmp_path, data, run, capsys):
    r = shutil.copytree(run, tmp_path / "run")
    ds, bad, fix = break_run(kind, r, data, tmp_path)
    check(Case(resume_argv(ds, r), resume_api(ds, r), CheckpointError, bad, fix, [r, ds]), capsys)


@pytest.mark.parametrize("damage", ['{"workflow": ', "[]", '{"data": "somewhere"}'])
def test_train_regularizer_reads_a_damaged_run_json_as_train_resume_does(damage, tmp_path, data, run, capsys):
    """The run's own run.json (which names the data) goes through the one reader of run.json."""
    r = shutil.copytree(run, tmp_path / "run")
    (r / "run.json").write_text(damage)
    argv = ["train-regularizer", "--model", r, "--stage", "flat", "--perceptual", "none", "--samples", "1"]
    check(Case(argv, None, CheckpointError, r / "run.json", "unreadable or incomplete run config; pass --data DIR",
               [r]), capsys)
    out = tmp_path / "generated"  # generate only drops the figure that needs the data
    assert main(["generate", "--model", str(r), "--input", str(first(data / "test" / "sketch")), "--out", str(out),
                 "--variations", "2"]) == 0
    assert json.loads((out / "diversity.json").read_text())["flat"]["l1_real"] is None


@pytest.mark.parametrize("command", ["evaluate", "train-regularizer"])
def test_data_of_another_workflow_is_refused_with_both_stage_lists(command, tmp_path, data, run, capsys):
    ds = other_workflow(data, tmp_path / "other", "other_stage_count")
    out = tmp_path / "out"
    if command == "evaluate":
        argv = ["evaluate", "--model", run, "--data", ds, "--out", out, "--perceptual", "none", "--steps", "1"]
        api = lambda: evaluate(run, ds, out, steps=1)  # noqa: E731
    else:
        argv = ["train-regularizer", "--model", run, "--data", ds, "--stage", "flat", "--perceptual", "none"]
        api = None
    fix = (f"dataset stages sketch (grey) → flat (RGB) but model {run} has stages sketch (grey) → flat (RGB) → "
           "shaded (RGB); pass the dataset the model was trained on")
    check(Case(argv, api, ConfigError, ds, fix, [ds, run]), capsys)
    assert not out.exists()


def test_an_existing_run_is_not_trained_over(tmp_path, data, run, capsys):
    r = shutil.copytree(run, tmp_path / "run")
    model, cfg = preset("tiny")
    check(Case(resume_argv(data, r, resume=False), lambda: train(data, r, model, cfg, device="cpu", progress=False),
               CheckpointError, r, "pass --resume", [r, data]), capsys)


CONFIG_YAML = {
    "wrong_type": ("train:\n  lr: fast\n", "must be float", lambda: replace(preset("tiny")[1], {"lr": "fast"})),
    "section_not_a_mapping": ("model: [width]\n", "must be a mapping", lambda: model_config_from_dict(["width"])),
    "not_sections": ("- model\n", "expected only the sections 'model:' and 'train:'", None),
    "bad_yaml": ("model: {width: 8\n", "fix the file or drop --config", None),
}


@pytest.mark.parametrize("kind", list(CONFIG_YAML))
def test_bad_config_file(kind, tmp_path, data, capsys):
    """The --config file; the Python API takes these options as dictionaries."""
    text, fix, api = CONFIG_YAML[kind]
    cfg = tmp_path / "overrides.yaml"
    cfg.write_text(text)
    argv = ["train", "--data", data, "--out", tmp_path / "run", "--config", cfg, "--dry-run"]
    check(Case(argv, None, ConfigError, cfg, fix, [tmp_path]), capsys)
    if api is not None:
        with pytest.raises(ConfigError, match="must be"):
            api()


# ---------------------------------------------------------------- files that would run code if unpickled
class Payload:
    """Unpickling this writes ``marker``: proof that a loader executed code from a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def write_pickle_bomb(path: Path, marker: Path, form: str) -> Path:
    """A raw pickle, or the zip container torch.save writes, around a payload that runs code."""
    content = {"step": 1, "features.0.weight": Payload(marker)}
    if form == "raw":
        path.write_bytes(pickle.dumps(content, protocol=4))
    else:
        torch.save(content, path)
    return path


@pytest.mark.parametrize("form", ["raw", "torch_zip"])
@pytest.mark.parametrize("where", ["training_state", "vgg16.pth", "vgg16.pt", "inception.pth", "model.safetensors"])
def test_pickle_bombs_are_never_unpickled(where, form, tmp_path, data, run, capsys):
    marker = tmp_path / "code-ran.txt"
    if where == "training_state":
        r = shutil.copytree(run, tmp_path / "run")
        bomb = write_pickle_bomb(r / CKPT / "training_state.pt", marker, form)
        case = Case(resume_argv(data, r), resume_api(data, r), CheckpointError, bomb, "delete this checkpoint", [r])
    elif where == "model.safetensors":
        m = shutil.copytree(run / "model", tmp_path / "model")
        bomb = write_pickle_bomb(m / "model.safetensors", marker, form)
        case = Case(["generate", "--model", m, "--input", first(data / "test" / "sketch"), "--out", tmp_path / "out"],
                    lambda: Workflow.from_pretrained(m), CheckpointError, bomb, "restore it from a backup", [m])
    elif where.startswith("vgg16"):
        bomb = write_pickle_bomb(tmp_path / where, marker, form)
        case = Case(["edit", "--model", run, "--input", first(data / "test" / "shaded"), "--out", tmp_path / "out",
                     "--steps", "0", "--vgg-weights", bomb], lambda: load_vgg16(bomb), CheckpointError, bomb,
                    "download the weights file again")
    else:
        bomb = write_pickle_bomb(tmp_path / where, marker, form)
        case = Case(["evaluate", "--model", run, "--data", data, "--out", tmp_path / "out", "--perceptual", "none",
                     "--inception-weights", bomb], lambda: load_inception(bomb), CheckpointError, bomb,
                    "download the weights file again")
    check(case, capsys)
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_weights_are_only_read_without_unpickling_code():
    """Every torch.load in the package passes weights_only=True; nothing calls pickle, dill or joblib."""
    found = []
    for path in Path(artworkflow.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                found += [f"{path.name}: imports {n}" for n in names if n.split(".")[0] in ("pickle", "dill", "joblib")]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                call = ast.unparse(node.func)
                safe = any(k.arg == "weights_only" and getattr(k.value, "value", None) is True for k in node.keywords)
                if call == "torch.load" and not safe or call in ("torch.jit.load", "np.load", "numpy.load"):
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not found
