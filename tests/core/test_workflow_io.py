import json

import pytest
import torch

from artworkflow.config import StageSpec, WorkflowSpec, preset
from artworkflow.errors import CheckpointError
from artworkflow.workflow import Discriminators, Workflow

SPEC = WorkflowSpec("t", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("final", 3)))
MODEL = preset("tiny")[0]


def test_save_load_bit_exact(tmp_path):
    wf = Workflow(SPEC, MODEL)
    with torch.no_grad():
        wf.regularizers[1].theta.add_(0.5)
    wf.regularizer_steps[1] = 7
    disc = Discriminators(SPEC, MODEL)
    wf.save_pretrained(tmp_path / "m", discriminators=disc)
    back = Workflow.from_pretrained(tmp_path / "m")
    assert back.spec == SPEC and back.model_config == MODEL
    sa, sb = wf.state_dict(), back.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    x = torch.rand(1, 1, 64, 64)
    assert all(torch.equal(p, q) for p, q in zip(wf.eval().sample(x, seed=3), back.sample(x, seed=3)))
    d2 = Discriminators.from_pretrained(tmp_path / "m")
    assert all(torch.equal(a, b) for a, b in zip(disc.state_dict().values(), d2.state_dict().values()))
    assert json.loads((tmp_path / "m" / "config.json").read_text())["workflow"]["stages"][0]["name"] == "sketch"


def test_load_accepts_run_folder(tmp_path):
    Workflow(SPEC, MODEL).save_pretrained(tmp_path / "run" / "model")
    assert Workflow.from_pretrained(tmp_path / "run").n_stages == 3


def test_other_workflow_refused(tmp_path):
    four = WorkflowSpec("f", SPEC.stages + (StageSpec("lit", 3),))
    Workflow(four, MODEL).save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["workflow"] = SPEC.to_dict()
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="another workflow"):
        Workflow.from_pretrained(tmp_path / "m")


def test_corrupt_weights_refused(tmp_path):
    Workflow(SPEC, MODEL).save_pretrained(tmp_path / "m")
    f = tmp_path / "m" / "model.safetensors"
    f.write_bytes(f.read_bytes()[: 1000])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        Workflow.from_pretrained(tmp_path / "m")


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such model folder"):
        Workflow.from_pretrained(tmp_path / "nope")


def test_save_replaces_atomically(tmp_path):
    wf = Workflow(SPEC, MODEL)
    wf.save_pretrained(tmp_path / "m")
    wf.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_pipeline_load_takes_the_stage_from_the_channels_only_when_one_fits(tiny_run, toy_data):
    from artworkflow.errors import ConfigError
    from artworkflow.pipeline import WorkflowPipeline
    pipe = WorkflowPipeline.from_pretrained(tiny_run)
    sketch = sorted((toy_data / "test" / "sketch").glob("*.png"))[0]
    art = sorted((toy_data / "test" / "shaded").glob("*.png"))[0]
    assert pipe.load(sketch).shape == (1, 1, 64, 64)
    with pytest.raises(ConfigError, match=f"{art}: a colour image, and the stages flat, shaded are all colour; "
                                          "say which stage it is"):
        pipe.load(art)
    loaded = pipe.load(art, "shaded")
    assert loaded.shape == (1, 3, 64, 64) and loaded.std() > 0.1
