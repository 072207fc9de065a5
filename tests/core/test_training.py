import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from artworkflow.config import preset, replace
from artworkflow.data.dataset import StageDataset, collate_stages
from artworkflow.errors import CheckpointError
from artworkflow.nn.init import init_weights
from artworkflow.nn.norm import LayerNorm
from artworkflow.train.checkpoint import latest_checkpoint
from artworkflow.train.loop import phase_at, schedule, train
from artworkflow.train.objectives import validation_l1
from artworkflow.workflow import Workflow

MODEL, CFG = preset("tiny")


def short(**kw):
    return replace(CFG, {"sample_every": 1000, "checkpoint_every": 1000, **kw})


def weights(run: Path) -> dict[str, torch.Tensor]:
    ckpt = latest_checkpoint(run)
    return {**load_file(str(ckpt / "model" / "model.safetensors")),
            **{f"d.{k}": v for k, v in load_file(str(ckpt / "model" / "discriminators.safetensors")).items()}}


def _initial_weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(CFG.seed)
    from artworkflow.data.toy import toy_spec
    return dict(init_weights(Workflow(toy_spec(3), MODEL), CFG.init).state_dict())


MODEL_INIT = _initial_weights()


def test_schedule_scales_every_phase():
    plan = schedule(replace(CFG, {"max_steps": 100}), steps_per_epoch=10)
    assert [p for p, _ in plan] == ["inference", "inference_joint", "generation", "generation_joint"]
    assert sum(n for _, n in plan) == 100
    full = schedule(CFG, steps_per_epoch=10)
    assert dict(full) == {"inference": 150, "inference_joint": 150, "generation": 400, "generation_joint": 150}


def test_published_initialisation():
    """Xavier-normal weights with gain 0.02, zero biases, layer-norm scales uniform in [0, 1)."""
    torch.manual_seed(0)
    from artworkflow.data.toy import toy_spec
    wf = init_weights(Workflow(toy_spec(3), MODEL))
    conv = wf.generators[0].content[1][1]
    fan_in, fan_out = conv.weight[0].numel(), conv.weight.shape[0] * conv.weight[0, 0].numel()
    want = 0.02 * (2 / (fan_in + fan_out)) ** 0.5
    assert abs(conv.weight.std().item() / want - 1) < 0.1
    linear = wf.generators[0].mlp.net[-1]
    assert torch.count_nonzero(linear.bias) == 0 and torch.count_nonzero(wf.encoders[0].mu.bias) == 0
    gammas = torch.cat([m.gamma for m in wf.modules() if isinstance(m, LayerNorm)])
    assert 0 <= gammas.min() and gammas.max() < 1 and gammas.std() > 0.1
    assert torch.equal(wf.regularizers[0].theta, torch.full_like(wf.regularizers[0].theta, 0.1))


def test_training_reduces_l1(toy_data, tmp_path):
    """A short run on toy data must at least halve both reconstruction errors."""
    ds = StageDataset(toy_data, "test", resolution=64, train=False)
    stages = collate_stages([ds[i] for i in range(len(ds))])
    torch.manual_seed(0)
    before = validation_l1(init_weights(Workflow(ds.spec, MODEL), CFG.init), stages)
    res = train(toy_data, tmp_path / "run", MODEL,
                short(max_steps=136, inference_epochs=5, inference_joint_epochs=5, generation_epochs=6,
                      generation_joint_epochs=1), progress=False)
    after = validation_l1(Workflow.from_pretrained(res.run), stages)
    assert after["inference"] < before["inference"] / 2, (before, after)
    assert after["generation"] < before["generation"] / 2, (before, after)
    assert (res.run / "index.html").is_file() and list((res.run / "samples").glob("*.png"))
    assert list((res.run / "tensorboard").iterdir())


def test_resume_equals_uninterrupted(toy_data, tmp_path):
    cfg = short(max_steps=8, checkpoint_every=2)
    train(toy_data, tmp_path / "full", MODEL, cfg, progress=False)
    train(toy_data, tmp_path / "cut", MODEL, cfg, progress=False, until_step=3)
    assert latest_checkpoint(tmp_path / "cut").name == "step-00000003"
    train(toy_data, tmp_path / "cut", MODEL, cfg, progress=False, resume=True)
    a, b = weights(tmp_path / "full"), weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_plain_networks_train_like_the_accelerated_ones_and_either_resumes_the_other(toy_data, tmp_path):
    """``train.accel`` off trains the plain networks of artworkflow.nn: the same losses from the same
    start, recorded in run.json; a checkpoint written by one (or by a run from before the option
    existed) resumes with the other."""
    import json
    losses = {}
    for accel in (True, False):
        seen = []
        train(toy_data, tmp_path / f"accel-{accel}", MODEL, short(max_steps=4, checkpoint_every=2, accel=accel),
              progress=False, until_step=2, on_step=lambda step, logged: seen.append(logged))
        losses[accel] = seen
    assert losses[True][0].keys() == losses[False][0].keys()
    for k, v in losses[True][0].items():
        assert v == pytest.approx(losses[False][0][k], rel=1e-5, abs=1e-6), k
    run = tmp_path / "accel-False"
    assert json.loads((run / "run.json").read_text())["train"]["accel"] is False
    ckpt = latest_checkpoint(run)
    old = json.loads((ckpt / "run.json").read_text())
    del old["train"]["accel"]
    (ckpt / "run.json").write_text(json.dumps(old))
    done = train(toy_data, run, MODEL, short(max_steps=4, checkpoint_every=2), progress=False, resume=True)
    assert done.step == 4 and all(torch.isfinite(v).all() for v in weights(run).values())


def test_refuses_to_clobber_or_mix_runs(toy_data, tmp_path):
    cfg = short(max_steps=4)
    train(toy_data, tmp_path / "run", MODEL, cfg, progress=False, until_step=1)
    with pytest.raises(CheckpointError, match="--resume"):
        train(toy_data, tmp_path / "run", MODEL, cfg, progress=False)
    with pytest.raises(CheckpointError, match="other model"):
        train(toy_data, tmp_path / "run", replace(MODEL, {"width": 8}), cfg, progress=False, resume=True)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(toy_data, tmp_path / "empty", MODEL, cfg, progress=False, resume=True)


def test_other_workflow_checkpoint_refused(tmp_path):
    from artworkflow.data.toy import make_toy_dataset
    three = make_toy_dataset(tmp_path / "d3", stages=3, count=8, test_count=2)
    four = make_toy_dataset(tmp_path / "d4", stages=4, count=8, test_count=2)
    cfg = short(max_steps=4)
    train(three, tmp_path / "run", MODEL, cfg, progress=False, until_step=1)
    with pytest.raises(CheckpointError, match="does not match"):
        train(four, tmp_path / "run", MODEL, cfg, progress=False, resume=True)


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo is tested on Linux")
def test_two_process_data_parallel_equals_single(toy_data, tmp_path):
    """Same global batch over 2 processes (gloo) gives the same update as 1 process, through all four
    phases. Adam's first steps are ±lr whatever the gradient's size, so float noise in near-zero
    gradients would flip whole steps; a large eps makes the update proportional to the gradient and
    the comparison measures what data parallelism must preserve."""
    cfg = short(max_steps=4, batch_size=4, adam_eps=1.0, loss={"mode_seeking": 0.0})
    train(toy_data, tmp_path / "one", MODEL, cfg, progress=False)
    # mode seeking takes its means over each process's share (published form), so it is left out here
    (tmp_path / "cfg.yaml").write_text("train:\n  adam_eps: 1.0\n  loss: {mode_seeking: 0.0}\n")
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([str(torchrun), "--nproc_per_node=2", "--master_port=29531", "-m", "artworkflow", "train",
                    "--data", str(toy_data), "--out", str(tmp_path / "two"), "--preset", "tiny",
                    "--max-steps", "4", "--batch-size", "4", "--quiet", "--device", "cpu",
                    "--config", str(tmp_path / "cfg.yaml")],
                   check=True, env=env, timeout=300, capture_output=True)
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    moved = max((a[k] - MODEL_INIT[k]).abs().max().item() for k in MODEL_INIT)
    worst = max((a[k] - b[k]).abs().max().item() for k in a if a[k].is_floating_point())
    assert moved > 1e-4, moved
    assert worst < 1e-5, worst


def test_nan_loss_stops_and_keeps_last_checkpoint(toy_data, tmp_path, monkeypatch):
    from artworkflow.errors import TrainingDivergedError
    from artworkflow.train import objectives

    real = objectives.inference_generator_loss
    calls = {"n": 0}

    def poisoned(*args, **kw):
        losses, pairs = real(*args, **kw)
        calls["n"] += 1
        if calls["n"] == 2:
            losses["inf/total"] = losses["inf/total"] * float("nan")
        return losses, pairs

    monkeypatch.setattr(objectives, "inference_generator_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match="not finite at step 1; training stopped and the last good "
                                                    "checkpoint was kept"):
        train(toy_data, tmp_path / "run", MODEL, short(max_steps=8, checkpoint_every=1), progress=False)
    ckpt = latest_checkpoint(tmp_path / "run")
    assert ckpt.name == "step-00000001"
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir() if p.is_dir()] == [ckpt.name]
    assert not (tmp_path / "run" / "model").exists()
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "run").values())
    Workflow.from_pretrained(ckpt)
    calls["n"] = 1
    with pytest.raises(TrainingDivergedError, match="at step 0; training stopped and no checkpoint had been "
                                                    "written yet"):
        train(toy_data, tmp_path / "fresh", MODEL, short(max_steps=8, checkpoint_every=1), progress=False)


def test_channels_last_and_bf16_gradients_are_as_accurate_as_float32():
    """One generation step's gradients (of the networks as training runs them, accelerated) against
    float64: channels-last float32 must be as accurate as NCHW float32, and bf16 channels-last as
    accurate as torch's own bf16 autocast in NCHW."""
    from artworkflow.accel import accelerate
    from artworkflow.data.toy import toy_spec
    from artworkflow.train import objectives as O
    from artworkflow.workflow import Discriminators
    torch.manual_seed(0)
    spec = toy_spec(3)
    wf = Workflow(spec, MODEL)
    # The critics get their own seed: a float32 rounding that moves an activation across a ReLU kink
    # changes the gradient by a finite step (relative error ~1e-3 in either layout for some draws, e.g.
    # seed 3), which says nothing about the layouts.
    torch.manual_seed(1)
    disc = Discriminators(spec, MODEL)
    disc.requires_grad_(False)
    wf.inference.requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    batch = [torch.rand(2, c, 64, 64, generator=g) * 2 - 1 for c in spec.channels]
    params = [*wf.generators.parameters(), *wf.encoders.parameters()]

    def grads(dtype, fmt, amp=False, weights=replace(CFG.loss, {"mode_seeking": 0.0})):
        wf.to(dtype=dtype, memory_format=fmt)
        disc.to(dtype=dtype, memory_format=fmt)
        stages = [x.to(dtype).contiguous(memory_format=fmt) for x in batch]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            losses, _ = O.generation_generator_loss(accelerate(wf), accelerate(disc), stages, False,
                                                    O.StepContext(0, 0, torch.arange(2)), weights)
        return torch.cat([d.double().flatten() for d in torch.autograd.grad(losses["gen/total"], params)])

    exact = grads(torch.float64, torch.contiguous_format)
    err = {name: ((grads(*args) - exact).norm() / exact.norm()).item() for name, args in
           {"nchw": (torch.float32, torch.contiguous_format), "nhwc": (torch.float32, torch.channels_last),
            "bf16": (torch.float32, torch.channels_last, True),
            "bf16nchw": (torch.float32, torch.contiguous_format, True)}.items()}
    assert err["nchw"] < 1e-4, err
    assert err["nhwc"] <= 2 * err["nchw"] + 1e-6, err
    assert err["bf16"] <= 1.5 * err["bf16nchw"], err
    # Mode seeking divides by the small output difference of two latents at initialisation, so its
    # float32 gradient is less well conditioned in every layout; it must still be close to float64.
    exact_ms = grads(torch.float64, torch.contiguous_format, weights=CFG.loss)
    for fmt in (torch.contiguous_format, torch.channels_last):
        assert ((grads(torch.float32, fmt, weights=CFG.loss) - exact_ms).norm() / exact_ms.norm()).item() < 2e-3


def test_bf16_training_runs_every_phase_resumes_exactly_and_learns(toy_data, tmp_path):
    """The loop under bf16 autocast: all four phases, finite losses, a resumed run equal to an
    uninterrupted one, and a generation error that falls."""
    ds = StageDataset(toy_data, "test", resolution=64, train=False)
    stages = collate_stages([ds[i] for i in range(len(ds))])
    cfg = short(max_steps=40, amp="bf16", checkpoint_every=10)
    torch.manual_seed(0)
    before = validation_l1(init_weights(Workflow(ds.spec, MODEL), CFG.init), stages)
    full = train(toy_data, tmp_path / "full", MODEL, cfg, progress=False)
    train(toy_data, tmp_path / "cut", MODEL, cfg, progress=False, until_step=25)
    resumed = train(toy_data, tmp_path / "cut", MODEL, cfg, progress=False, resume=True)
    plan = schedule(cfg, len(StageDataset(toy_data, "train", resolution=64)) // cfg.batch_size)
    assert [p for p, _ in plan] == ["inference", "inference_joint", "generation", "generation_joint"]
    assert phase_at(plan, 25).startswith("generation")
    a, b = weights(full.run), weights(resumed.run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    after = validation_l1(Workflow.from_pretrained(full.run), stages)
    assert all(torch.isfinite(torch.tensor(list(after.values()))))
    assert after["generation"] < before["generation"], (before, after)
