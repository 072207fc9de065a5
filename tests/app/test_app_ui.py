"""The interface built from a model's workflow, and the `app` command, without starting a server."""
from __future__ import annotations

import argparse
import socket

import gradio as gr
import pytest

from artworkflow.app import state as S
from artworkflow.app.launch import launch
from artworkflow.app.ui import build_app
from artworkflow.cli.app import add_parsers
from artworkflow.errors import ArtworkflowError, CheckpointError


def by_id(demo: gr.Blocks, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def test_ui_is_built_from_the_model_workflow(make_pipeline, tmp_path):
    pipeline = make_pipeline(4)
    demo = build_app(pipeline, output_dir=tmp_path, perceptual=None, examples=False)
    names = pipeline.names
    assert [c[0] for c in by_id(demo, "edit-stage").choices] == names
    assert " → ".join(f"**{n}**" for n in names) in by_id(demo, "aw-header").value
    assert by_id(demo, "edit-stages").columns == len(names)
    images = [b for b in demo.blocks.values() if isinstance(b, (gr.Image, gr.ImageEditor, gr.Gallery))]
    assert images and all(b.format == "png" for b in images)
    api = {fn.api_name for fn in demo.fns.values()}
    assert {"create_start", "create_pick", "create_reroll", "create_back", "edit_decompose", "edit_resample",
            "edit_redraw", "edit_undo"} <= api
    assert "ℓ1 only" in by_id(demo, "edit-loss-note").value


def test_app_command_defaults_are_local():
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="cmd"))
    a = parser.parse_args(["app"])
    assert (a.host, a.port, a.model, a.concurrency, a.max_sessions) == ("127.0.0.1", 7860, None, 1, 200)


def test_launch_without_model_explains_the_missing_demo_model(monkeypatch, tmp_path):
    monkeypatch.setattr(S, "DEMO_MODEL", tmp_path / "demo-model")
    with pytest.raises(CheckpointError, match="--model"):
        launch(None, block=False, output_dir=tmp_path / "out")


def test_cli_app_command_reports_a_missing_demo_model_in_one_line(monkeypatch, tmp_path, capsys):
    from artworkflow import cli
    monkeypatch.setattr(S, "DEMO_MODEL", tmp_path / "demo-model")
    with pytest.raises(SystemExit) as e:
        cli.main(["app", "--help"])
    assert e.value.code == 0 and "--host" in capsys.readouterr().out
    assert cli.main(["app", "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no demo model at") and str(tmp_path / "demo-model") in err


def test_launch_on_a_busy_port_says_what_to_do(make_pipeline, tmp_path):
    make_pipeline(3).workflow.save_pretrained(tmp_path / "model")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ArtworkflowError, match=f"cannot listen on 127.0.0.1:{port}"):
            launch(tmp_path / "model", port=port, block=False, quiet=True, output_dir=tmp_path / "out")
