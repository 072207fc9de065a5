"""`train --resume` continues a run as it was started: the options come from its run.json, an option
given again with another value is refused in one line (only --extend-steps asks for a longer run),
and run.json keeps the options the run was started with."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from artworkflow.cli import main
from artworkflow.config import preset, replace
from artworkflow.errors import CheckpointError
from artworkflow.train.checkpoint import latest_checkpoint
from artworkflow.train.loop import train
from artworkflow.workflow import Workflow

MODEL, TINY = preset("tiny")
CFG = replace(TINY, {"max_steps": 8, "checkpoint_every": 2, "sample_every": 1000, "lr": 1e-3})


def snapshot(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def started(toy_data, tmp_path_factory) -> Path:
    """A run of 8 steps started as `train --preset tiny --max-steps 8 --lr 1e-3 --config ...` would
    (checkpoints every 2 steps), stopped after step 3."""
    run = tmp_path_factory.mktemp("resume") / "run"
    train(toy_data, run, MODEL, CFG, progress=False, device="cpu", until_step=3, options={"preset": "tiny"})
    return run


@pytest.fixture
def run(started, tmp_path) -> Path:
    return shutil.copytree(started, tmp_path / "run")


def resume(run: Path, *extra: str) -> int:
    return main(["train", "--out", str(run), "--resume", "--quiet", "--device", "cpu", *extra])


def test_a_plain_resume_takes_every_option_from_run_json(run, toy_data, capsys):
    assert resume(run, "--dry-run") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["data"] == str(toy_data.resolve())
    assert {k: shown["train"][k] for k in ("max_steps", "checkpoint_every", "lr")} == {
        "max_steps": 8, "checkpoint_every": 2, "lr": 1e-3}


def test_a_plain_resume_ends_the_run_as_started_and_keeps_run_json(run, toy_data, tmp_path):
    recorded = (run / "run.json").read_bytes()
    assert resume(run) == 0
    assert latest_checkpoint(run).name == "step-00000008"
    assert (run / "run.json").read_bytes() == recorded
    whole = train(toy_data, tmp_path / "whole", MODEL, CFG, progress=False, device="cpu").run
    a, b = load_file(str(run / "model" / "model.safetensors")), load_file(str(whole / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


CHANGED = {
    "max_steps": (["--max-steps", "12"], "--extend-steps N"),
    "lr": (["--lr", "0.01"], "drop --lr"),
    "resolution": (["--resolution", "128"], "drop --resolution"),
    "preset": (["--preset", "small"], "drop --preset"),
    "config": (["--config", "batch: 8"], "drop train.batch_size"),
}


@pytest.mark.parametrize("kind", list(CHANGED))
def test_an_option_given_again_with_another_value_is_refused(kind, run, tmp_path, capsys):
    extra, fix = CHANGED[kind]
    if kind == "config":
        (tmp_path / "c.yaml").write_text("train:\n  batch_size: 8\n")
        extra = ["--config", str(tmp_path / "c.yaml")]
    before = snapshot(run)
    assert resume(run, *extra) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {run}: ") and fix in err, err
    assert snapshot(run) == before


def test_the_same_values_and_free_options_are_accepted(run, toy_data, capsys):
    assert resume(run, "--data", str(toy_data), "--preset", "tiny", "--max-steps", "8", "--lr", "0.001",
                  "--num-workers", "0", "--dry-run") == 0
    assert json.loads(capsys.readouterr().out)["train"]["max_steps"] == 8


def test_extend_steps_lengthens_the_last_phase(run):
    plan = json.loads((run / "run.json").read_text())["plan"]
    assert resume(run, "--extend-steps", "3") == 0
    assert latest_checkpoint(run).name == "step-00000011"
    recorded = json.loads((run / "run.json").read_text())
    assert recorded["plan"] == plan[:-1] + [[plan[-1][0], plan[-1][1] + 3]]
    assert recorded["train"]["max_steps"] == 8
    assert resume(run) == 0 and latest_checkpoint(run).name == "step-00000011"


def test_extend_steps_needs_resume(toy_data, tmp_path, capsys):
    assert main(["train", "--data", str(toy_data), "--out", str(tmp_path / "r"), "--extend-steps", "3"]) == 2
    assert "use it with --resume" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_a_run_json_without_the_preset_or_the_plan_still_resumes(run, capsys):
    """Runs started before run.json recorded them: the plan is recomputed from the recorded options, and
    a --preset must agree with every recorded option the command line does not set."""
    for path in (run / "run.json", latest_checkpoint(run) / "run.json"):
        recorded = json.loads(path.read_text())
        del recorded["plan"], recorded["options"]
        path.write_text(json.dumps(recorded))
    assert resume(run, "--preset", "tiny") == 2
    assert "preset tiny sets train.lr = 0.0002" in capsys.readouterr().err
    assert resume(run, "--preset", "tiny", "--lr", "0.001", "--max-steps", "8", "--dry-run") == 0
    capsys.readouterr()
    assert resume(run) == 0 and latest_checkpoint(run).name == "step-00000008"


def test_an_unfinished_run_says_how_to_resume_it(run, toy_data, tmp_path, capsys):
    shutil.rmtree(run / "model")
    ckpt = latest_checkpoint(run) / "model"
    sketch = sorted((toy_data / "test" / "sketch").glob("*.png"))[0]
    assert main(["generate", "--model", str(run), "--input", str(sketch), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"artworkflow train --out {run} --resume" in err and f"--model {ckpt}" in err
    with pytest.raises(CheckpointError, match="--resume"):
        Workflow.from_pretrained(run)
    assert Workflow.from_pretrained(ckpt).n_stages == 3


def test_a_new_run_is_not_started_over_a_folder_of_other_files(toy_data, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    (tmp_path / "file").write_text("a file")
    for out, fix in ((mine, "holds no training run"), (tmp_path / "file", "is a file, not a folder")):
        assert main(["train", "--data", str(toy_data), "--out", str(out), "--quiet", "--max-steps", "4"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {out}: ") and fix in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"] and (tmp_path / "file").read_text() == "a file"
