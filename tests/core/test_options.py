"""Every numeric option is checked where it is read (type, range, finite), from a config file, the
Python API or the command line, and refused in one line that names it and its allowed range."""
from __future__ import annotations

import math
import re

import pytest
import torch

from artworkflow.cli import main
from artworkflow.config import model_config_from_dict, preset, replace
from artworkflow.errors import ConfigError

TINY = preset("tiny")[1]

BAD_TRAIN = {
    "keep_checkpoints": (-1, "an integer >= 1"),
    "checkpoint_every": (0, "an integer >= 1"),
    "sample_every": (0, "an integer >= 1"),
    "log_every": (0, "an integer >= 1"),
    "lr": (math.nan, "a finite number > 0"),
    "beta1": (1.0, "in [0, 1)"),
    "adam_eps": (-1e-8, "> 0"),
    "num_workers": (-1, "an integer >= 0"),
    "seed": (-1, "an integer in [0, 4294967295]"),
    "inference_epochs": (math.inf, "a finite number >= 0"),
    "batch_size": (3, "even"),
    "load_size": (0, "an integer >= 1"),
    "max_steps": (2, "an integer >= 4"),
}


@pytest.mark.parametrize("option", list(BAD_TRAIN))
def test_out_of_range_training_options_are_refused(option):
    value, allowed = BAD_TRAIN[option]
    with pytest.raises(ConfigError, match=rf"train\.{option} is .*; it must be .*{re.escape(allowed)}"):
        replace(TINY, {option: value})


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf])
@pytest.mark.parametrize("weight", ["l1", "cycle", "mode_seeking"])
def test_loss_weights_must_be_finite_and_not_negative(weight, value):
    with pytest.raises(ConfigError, match=rf"train\.loss\.{weight} is .*; it must be a finite number >= 0"):
        replace(TINY, {"loss": {weight: value}})


def test_every_phase_of_zero_epochs_is_refused():
    with pytest.raises(ConfigError, match="at least one training phase"):
        replace(TINY, {f"{p}_epochs": 0 for p in ("inference", "inference_joint", "generation", "generation_joint")})


@pytest.mark.parametrize("field,value", [("width", 0), ("nz", -3), ("disc_scales", 0)])
def test_model_sizes_must_be_positive_integers(field, value):
    with pytest.raises(ConfigError, match=rf"model\.{field} is .*; it must be an integer >= 1"):
        model_config_from_dict({field: value})


def test_a_bad_value_in_the_config_file_is_one_line(toy_data, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  keep_checkpoints: -1\n")
    assert main(["train", "--data", str(toy_data), "--out", str(tmp_path / "r"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {cfg}: train.keep_checkpoints is -1; it must be an integer >= 1\n"
    assert not (tmp_path / "r").exists()


CUDA = "cuda" if not torch.cuda.is_available() else "cuda:999"
BAD_FLAGS = [
    (["generate", "--variations", "0"], "--variations: 0 is out of range; use an integer >= 1"),
    (["generate", "--seed", str(2**64)], "--seed: 18446744073709551616 is out of range"),
    (["generate", "--seed", "-1"], "--seed: -1 is out of range; use an integer in [0, 4294967295]"),
    (["generate", "--device", CUDA], "--device: cuda"),
    (["generate", "--device", "gpu"], "--device: 'gpu' is not a device"),
    (["train", "--num-workers", "-1"], "--num-workers: -1 is out of range; use an integer >= 0"),
    (["train", "--lr", "nan"], "--lr: nan is out of range; use a finite number > 0"),
    (["train", "--max-steps", "ten"], "--max-steps: 'ten' is not an integer >= 4; give a whole number such as 4"),
    (["train", "--extend-steps", "2.5"], "--extend-steps: '2.5' is not an integer >= 1; give a whole number such as 2"),
    (["train", "--max-steps", "2e3"], "'2e3' is not an integer >= 4; give a whole number such as 2000"),
    (["edit", "--lr", "fast"], "--lr: 'fast' is not a finite number > 0; give a number such as 1"),
    (["edit", "--lr", "nan"], "--lr: nan is out of range; use a finite number > 0"),
    (["edit", "--lr", "-1"], "--lr: -1 is out of range"),
    (["edit", "--lr", "inf"], "--lr: inf is out of range"),
    (["edit", "--steps", "-1"], "--steps: -1 is out of range"),
    (["edit", "--regularization", "nan"], "weight decay nan is out of range"),
    (["train-regularizer", "--lr", "-0.1"], "--lr: -0.1 is out of range"),
    (["train-regularizer", "--inner-steps", "1"], "--inner-steps: 1 is out of range; use an integer >= 2"),
    (["evaluate", "--trials", "0"], "--trials: 0 is out of range"),
    (["dataset", "toy", "--count", "0"], "--count: 0 is out of range"),
    (["dataset", "from-images", "src", "--test-fraction", "1.5"], "--test-fraction: 1.5 is out of range"),
]
REQUIRED = {"generate": ["--model", "m", "--input", "i.png", "--out", "o"],
            "train": ["--data", "d", "--out", "o"],
            "edit": ["--model", "m", "--input", "i.png", "--out", "o"],
            "train-regularizer": ["--model", "m", "--stage", "flat"],
            "evaluate": ["--model", "m", "--data", "d", "--out", "o"],
            "dataset": ["--out", "o"]}


@pytest.mark.parametrize("argv,message", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_values_on_the_command_line_are_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = argv + REQUIRED[argv[0]] + (["--recipe", "anime"] if "from-images" in argv else [])
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: artworkflow ") and message in err, err
    assert "--help" in err and list(tmp_path.iterdir()) == []


def test_a_resample_seed_out_of_range_is_one_line(capsys):
    assert main(["edit", "--model", "m", "--input", "i.png", "--out", "o", "--resample", "flat:-3"]) == 2
    assert capsys.readouterr().err == "error: --resample flat:-3: the seed must be an integer in [0, 4294967295]\n"
