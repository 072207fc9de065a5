import json
import shutil

import pytest
import torch

from artworkflow.cli import main
from artworkflow.data.images import save_image
from artworkflow.precision import resolve_amp
from artworkflow.workflow import Workflow


def test_edit_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["edit", "--help"])
    assert e.value.code == 0
    assert "--resample" in capsys.readouterr().out


def test_edit_writes_stages_metrics_and_page(tiny_run, test_items, tmp_path, capsys):
    art, sketch = tmp_path / "art.png", tmp_path / "sketch.png"
    save_image(test_items[0][-1], art)
    save_image(test_items[1][0], sketch)
    out = tmp_path / "out"
    code = main(["edit", "--model", str(tiny_run), "--input", str(art), "--out", str(out), "--steps", "2",
                 "--perceptual", "none", "--regularization", "1e-3", "--resample", "flat:3",
                 "--stage-image", f"sketch={sketch}", "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["l1_before"] > 0 and metrics["l1_after"] > 0 and metrics["perceptual"] == "none"
    assert metrics["regularization"] == 1e-3 and metrics["method"] == "adain"
    assert metrics["amp"] == resolve_amp("auto", torch.device("cpu"))  # what "auto" chose, not "auto"
    assert metrics["edits"] == ["resample flat (seed 3)", "set image of sketch"]
    page = (out / "index.html").read_text()
    for f in ("inferred.png", "before.png", "after.png", "edit-1.png", "edit-2.png", "workflow.gif"):
        assert (out / f).is_file() and f in page
    assert (out / "after" / "shaded.png").is_file() and (out / "inferred" / "sketch.png").is_file()
    assert "l1" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["bundled", "fresh"])
def test_edit_defaults_to_the_learned_regularisation_where_trained(model, tiny_run, tmp_path, capsys):
    """The bundled model's regularisers are trained, the session's tiny run's are not: the default edit
    is the learned regularisation for the one and w = 0 for the other, said in one stderr line."""
    from artworkflow.data.sample import DEMO_MODEL, bundled_sample_path
    path = DEMO_MODEL if model == "bundled" else tiny_run
    art = sorted((bundled_sample_path() / "test" / "shaded").glob("*.png"))[0]
    out = tmp_path / "out"
    assert main(["edit", "--model", str(path), "--input", str(art), "--out", str(out), "--steps", "1",
                 "--perceptual", "none", "--quiet"]) == 0
    note, choice = {"bundled": ("learned regularisation for flat, shaded", "learned"),
                    "fresh": ("w = 0 for flat, shaded (regulariser untrained; train it with `artworkflow "
                              f"train-regularizer --model {tiny_run} --stage flat`)", "none")}[model]
    assert capsys.readouterr().err.splitlines() == [f"note: regularization auto: {note}"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["regularization"] == "auto" and metrics["stage_regularization"] == {"flat": choice, "shaded": choice}


def test_edit_reports_a_bad_stage(tiny_run, test_items, tmp_path, capsys):
    art = save_image(test_items[0][-1], tmp_path / "art.png")
    code = main(["edit", "--model", str(tiny_run), "--input", str(art), "--out", str(tmp_path / "o"),
                 "--perceptual", "none", "--resample", "nosuchstage"])
    assert code == 2 and "nosuchstage" in capsys.readouterr().err


def test_train_regularizer_cli_saves_into_the_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run / "model", run / "model")
    shutil.copy(tiny_run / "run.json", run / "run.json")
    code = main(["train-regularizer", "--model", str(run), "--stage", "shaded", "--samples", "1",
                 "--inner-steps", "2", "--perceptual", "none", "--quiet"])
    assert code == 0
    wf = Workflow.from_pretrained(run)
    assert int(wf.regularizer_steps[1]) == 1 and int(wf.regularizer_steps[0]) == 0
    assert not torch.equal(wf.regularizers[1].theta, torch.full_like(wf.regularizers[1].theta, 0.1))
    assert (run / "model" / "discriminators.safetensors").is_file() and (run / "regularizer.jsonl").is_file()


def test_regularisers_of_two_stages_saved_in_either_order_both_survive(tiny_run, tmp_path):
    """Two trainings of one model started together (each loaded it before the other saved) keep both."""
    from artworkflow.workflow import WEIGHTS_FILE, save_regularizer

    model = tmp_path / "model"
    shutil.copytree(tiny_run / "model", model)
    first, second = Workflow.from_pretrained(model), Workflow.from_pretrained(model)
    for wf, i, value in ((first, 0, 0.3), (second, 1, 0.7)):
        with torch.no_grad():
            wf.regularizers[i].theta.fill_(value)
        wf.regularizer_steps[i] += 5
    save_regularizer(first, 0, model / WEIGHTS_FILE)
    save_regularizer(second, 1, model / WEIGHTS_FILE)
    both = Workflow.from_pretrained(model)
    assert both.regularizer_steps.tolist() == [5, 5]
    assert torch.all(both.regularizers[0].theta == 0.3) and torch.all(both.regularizers[1].theta == 0.7)
    for key, value in Workflow.from_pretrained(tiny_run).state_dict().items():
        if not key.startswith("regularizer"):
            assert torch.equal(both.state_dict()[key], value), key
    assert sorted(p.name for p in model.iterdir()) == sorted(p.name for p in (tiny_run / "model").iterdir())


@pytest.mark.parametrize("where", ["missing", "folder"])
def test_a_stage_image_that_is_no_file_names_the_option_and_the_fix(where, tiny_run, test_items, tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    art = save_image(test_items[0][-1], tmp_path / "art.png")
    (tmp_path / "drawings").mkdir()
    path = "drawings" if where == "folder" else "redrawn.png"
    code = main(["edit", "--model", str(tiny_run), "--input", str(art), "--out", "o", "--stage-image",
                 f"flat={path}"])
    what = "is a folder, not an image file" if where == "folder" else f"does not exist (looked in {tmp_path})"
    assert code == 2 and capsys.readouterr().err == (
        f"error: --stage-image flat={path}: {path} {what}; give the edited image of flat as --stage-image "
        "flat=PATH with PATH an existing image file\n")
    assert not (tmp_path / "o").exists()
