import argparse
import json
import subprocess
import sys

import pytest

from artworkflow.cli import build_parser, main


def subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd")
    out = []
    for name, p in sub.choices.items():
        nested = [a for a in p._actions if a.dest == "sub"]
        out += [[name, n] for n in nested[0].choices] if nested else [[name]]
    return out


@pytest.mark.parametrize("cmd", subcommands(), ids=" ".join)
def test_help_of_every_command(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([*cmd, "--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_console_entry_points_import():
    for argv in (["artworkflow"], ["artworkflow.cli"], ["artworkflow", "train"]):
        r = subprocess.run([sys.executable, "-m", *argv, "--help"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"usage: artworkflow {' '.join(argv[1:])}".rstrip() + " [-h]"), r.stdout


def test_train_dry_run_resolves_config(toy_data, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  width: 8\ntrain:\n  lr: 1e-3\n  loss:\n    cycle: 2.0\n")  # YAML reads 1e-3 as text
    assert main(["train", "--data", str(toy_data), "--out", str(tmp_path / "r"), "--config", str(cfg),
                 "--max-steps", "12", "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"]["width"] == 8 and out["train"]["lr"] == 0.001
    assert out["train"]["loss"]["cycle"] == 2.0 and out["train"]["max_steps"] == 12
    assert not (tmp_path / "r").exists()


def test_bad_config_is_one_line(toy_data, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  widht: 8\n")
    assert main(["train", "--data", str(toy_data), "--out", str(tmp_path / "r"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown option 'model.widht'" in err and "Traceback" not in err


def test_missing_dataset_is_one_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "workflow.yaml" in capsys.readouterr().err


def test_dataset_toy_and_validate(tmp_path, capsys):
    assert main(["dataset", "toy", "--out", str(tmp_path / "d"), "--count", "6", "--stages", "4"]) == 0
    assert main(["dataset", "validate", str(tmp_path / "d")]) == 0
    assert "ok" in capsys.readouterr().out


def test_generate_writes_grids(tiny_run, toy_data, tmp_path, capsys):
    import json

    from PIL import Image
    sketch = sorted((toy_data / "test" / "sketch").glob("*.png"))[0]
    assert main(["generate", "--model", str(tiny_run), "--input", str(sketch), "--variations", "3",
                 "--out", str(tmp_path / "g")]) == 0
    names = sorted(p.name for p in (tmp_path / "g").glob("*.png"))
    assert names == ["random.png", "stage-flat.png", "stage-shaded.png"]
    w, h = Image.open(tmp_path / "g" / "stage-flat.png").size
    assert h > 3 * 64 and w > 3 * 64
    assert "stage-flat.png" in (tmp_path / "g" / "index.html").read_text()
    diversity = json.loads((tmp_path / "g" / "diversity.json").read_text())
    assert set(diversity) == {"flat", "shaded"}
    for d in diversity.values():
        assert d["l1_variations"] >= 0 and d["l1_real"] > 0 and d["l1_relative"] == d["l1_variations"] / d["l1_real"]
    printed = capsys.readouterr().out
    assert "diversity of 'flat'" in printed and "of the spread between real items" in printed


def parsers():
    """Every (sub)command's parser except the app's, by its command line."""
    found, todo = [], [([], build_parser())]
    while todo:
        prefix, parser = todo.pop()
        found.append((" ".join(prefix) or "artworkflow", parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [(prefix + [name], p) for name, p in action.choices.items() if name != "app"]
    return found


@pytest.mark.parametrize("name,parser", parsers(), ids=[n for n, _ in parsers()])
def test_every_option_says_what_it_does_and_its_default(name, parser):
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        label = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help, f"{name} {label} has no help"
        if action.option_strings and not action.required and not isinstance(action, argparse._StoreTrueAction):
            assert "default" in formatter._format_action(action).lower(), f"{name} {label}: {action.help}"


def test_defaults_are_shown_with_their_values():
    shown = {name: " ".join(p.format_help().split()) for name, p in parsers()}
    assert "default: tiny" in shown["train"] and "(default: 5)" in shown["generate"]
    assert "(default: 150)" in shown["evaluate"] and "(default: 3)" in shown["demo"]


def test_the_top_level_description_is_whole(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "lists the options of a command." in text and "delegates to" not in text
