"""`artworkflow app` refuses a bad option value with one line that names the option and the form it
accepts, before it loads the model or creates anything."""
from __future__ import annotations

import argparse

import pytest

from artworkflow import cli
from artworkflow.app import state as S
from artworkflow.app.launch import AppOptions, launch, parse_file_size
from artworkflow.cli.app import add_parsers
from artworkflow.errors import ConfigError

SIZE_FORM = "must be a size such as 10mb, 500kb or 1gb (a whole number followed by b, kb, mb or gb, at most 1gb)"
REFUSALS = [
    (["--max-file-size", "tenmb"], f"--max-file-size {SIZE_FORM}, got 'tenmb'"),
    (["--max-file-size", "0mb"], f"--max-file-size {SIZE_FORM}, got '0mb'"),
    (["--max-file-size", "2gb"], f"--max-file-size {SIZE_FORM}, got '2gb'"),
    (["--max-file-size", "1.5mb"], f"--max-file-size {SIZE_FORM}, got '1.5mb'"),
    (["--max-side", "-1"], f"--max-side must be a whole number between 1 and {S.MAX_SIDE_LIMIT}, got '-1'"),
    (["--max-side", "big"], f"--max-side must be a whole number between 1 and {S.MAX_SIDE_LIMIT}, got 'big'"),
    (["--max-side", "100000"], f"--max-side must be a whole number between 1 and {S.MAX_SIDE_LIMIT}, got '100000'"),
    (["--port", "70000"], "--port must be a whole number between 1 and 65535, got '70000'"),
    (["--port", "http"], "--port must be a whole number between 1 and 65535, got 'http'"),
    (["--concurrency", "0"], "--concurrency must be a whole number between 1 and 64, got '0'"),
    (["--max-sessions", "-5"], "--max-sessions must be a whole number of at least 1, got '-5'"),
    (["--device", "gpu"], "--device must be cpu, cuda or cuda:N, got 'gpu'"),
]


@pytest.mark.parametrize("args, message", REFUSALS, ids=[" ".join(a) for a, _ in REFUSALS])
def test_bad_values_are_refused_in_one_line_before_anything_is_created(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["app", "--output-dir", str(out), *args]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not out.exists()


def test_a_cuda_device_this_machine_lacks_is_refused(tmp_path, capsys):
    import torch
    missing = f"cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 0}"
    assert cli.main(["app", "--device", missing, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --device {missing}: this machine has ") and "use --device cpu" in err
    assert err.count("\n") == 1


def test_an_output_dir_that_is_a_file_is_refused(tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    assert cli.main(["app", "--output-dir", str(taken)]) == 2
    assert capsys.readouterr().err == f"error: --output-dir {taken}: is a file, not a folder; give a folder (it is " \
                                      "created if missing)\n"
    assert taken.read_text() == "mine"


def test_launch_refuses_the_same_values_from_python(tmp_path):
    with pytest.raises(ConfigError, match="--max-side must be"):
        launch(None, max_side=-1, block=False, output_dir=tmp_path / "out")
    with pytest.raises(ConfigError, match="--max-file-size must be"):
        launch(None, max_file_size="tenmb", block=False, output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_good_values_are_parsed_from_the_command_line():
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="cmd"))
    a = parser.parse_args(["app", "--port", "8000", "--max-side", "2048", "--max-file-size", "500 KB",
                           "--concurrency", "2", "--max-sessions", "30", "--device", "CPU"])
    options = AppOptions.check(a.port, a.device, a.concurrency, a.max_sessions, a.max_side, a.max_file_size)
    assert options == AppOptions(8000, "cpu", 2, 30, S.UploadLimits(2048, 500 * 1024))
    defaults = parser.parse_args(["app"])
    options = AppOptions.check(defaults.port, defaults.device, defaults.concurrency, defaults.max_sessions,
                               defaults.max_side, defaults.max_file_size)
    assert options == AppOptions(7860, "cpu", 1, 200, S.UploadLimits(4096, 10 * 2**20))


@pytest.mark.parametrize("text, size", [("10mb", 10 * 2**20), ("10MB", 10 * 2**20), ("1gb", 2**30), ("512b", 512),
                                        ("2048", 2048), (4096, 4096)])
def test_file_sizes(text, size):
    assert parse_file_size(text) == size


def test_every_option_says_its_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["app", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--port", "--host", "--device", "--concurrency", "--max-file-size", "--max-side", "--max-sessions"):
        assert option in text
    assert text.count("(default:") == 10
