"""``accelerate``: one explicit transform of the plain networks, with the same state-dict keys, the
same function and, for training, the very same parameters and the same gradients."""
import pytest
import torch
from torch import nn

from artworkflow.accel import accelerate
from artworkflow.accel.narrow_conv import NarrowConv2d
from artworkflow.accel.norm import FastAdaIN, FastInstanceNorm, FastLayerNorm
from artworkflow.accel.pad import ReflectionPad
from artworkflow.accel.upsample import FrozenUpsamplingPath, UpsamplingPath
from artworkflow.config import StageSpec, WorkflowSpec, preset
from artworkflow.errors import ConfigError
from artworkflow.train import objectives as O
from artworkflow.workflow import Discriminators, Workflow

SPEC = WorkflowSpec("t", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("final", 3)))
MODEL, CFG = preset("tiny")


def _networks(seed: int = 0) -> tuple[Workflow, Discriminators]:
    torch.manual_seed(seed)
    return Workflow(SPEC, MODEL), Discriminators(SPEC, MODEL)


def _kinds(module: nn.Module) -> set[type]:
    return {type(m) for m in module.modules()}


def test_train_twin_shares_every_tensor_keeps_the_keys_and_leaves_the_plain_module_plain():
    wf, disc = _networks()
    plain_kinds = _kinds(wf) | _kinds(disc)
    fast_wf, fast_disc = accelerate(wf, for_="train"), accelerate(disc, for_="train")
    for plain, fast in ((wf, fast_wf), (disc, fast_disc)):
        assert list(fast.state_dict()) == list(plain.state_dict())
        assert all(a is b for a, b in zip(fast.parameters(), plain.parameters()))
        assert all(a is b for a, b in zip(fast.buffers(), plain.buffers()))
    assert _kinds(wf) | _kinds(disc) == plain_kinds
    assert not plain_kinds & {ReflectionPad, FastInstanceNorm, FastAdaIN, FastLayerNorm, NarrowConv2d, UpsamplingPath}
    assert {ReflectionPad, FastInstanceNorm, FastAdaIN, FastLayerNorm, NarrowConv2d, UpsamplingPath} <= (
        _kinds(fast_wf) | _kinds(fast_disc))
    with torch.no_grad():
        fast_wf.regularizer_steps[0] += 3
    assert int(wf.regularizer_steps[0]) == 3, "buffers are shared too"


def test_a_plain_checkpoint_loads_into_the_twin_and_back():
    wf, _ = _networks(0)
    other, _ = _networks(1)
    fast = accelerate(wf, for_="train")
    fast.load_state_dict(other.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(wf.state_dict().values(), other.state_dict().values()))
    other.load_state_dict(fast.state_dict())


def _objectives(wf: Workflow, disc: Discriminators, stages: list[torch.Tensor]) -> torch.Tensor:
    """The generator-side and critic-side losses of a generation step and of an inference step."""
    ctx = O.StepContext(0, 0, torch.arange(2))
    losses, fakes = O.generation_generator_loss(wf, disc, stages, False, ctx, CFG.loss)
    inf_losses, pairs = O.inference_generator_loss(wf, disc, stages, False, CFG.loss)
    return (losses["gen/total"] + O.generation_discriminator_loss(disc, fakes, ctx)["gen_d/total"]
            + inf_losses["inf/total"] + O.inference_discriminator_loss(disc, pairs)["inf_d/total"])


@pytest.mark.parametrize("channels_last", [False, True])
def test_training_objectives_have_the_plain_networks_losses_and_gradients(channels_last):
    """Every network's objective in a generation and an inference step (every accelerated layer is
    on their paths): the twin's loss equals the plain networks', and its float32 gradients are as
    close to the plain networks' float64 gradients as the plain float32 ones. (Measured against
    float64, because some float32 gradients are noisy in any implementation: mode seeking divides by
    a small output difference at initialisation, and the U-Net's instance norm of the 2×2 map
    upsampled from its 1×1 bottleneck normalises a constant.)"""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    wf, disc = _networks()
    g = torch.Generator().manual_seed(0)
    batch = [torch.rand(2, c, 64, 64, generator=g) * 2 - 1 for c in SPEC.channels]
    params = [*wf.parameters(), *disc.parameters()]

    def run(make, dtype):
        wf.to(dtype=dtype, memory_format=fmt)
        disc.to(dtype=dtype, memory_format=fmt)
        w, d = make(wf), make(disc)
        total = _objectives(w, d, [x.to(dtype).contiguous(memory_format=fmt) for x in batch])
        grads = torch.autograd.grad(total, params, allow_unused=True)
        return total.double(), torch.cat([x.double().flatten() for x in grads if x is not None])

    exact_loss, exact = run(lambda m: m, torch.float64)
    plain_loss, plain = run(lambda m: m, torch.float32)
    fast_loss, fast = run(lambda m: accelerate(m, for_="train"), torch.float32)
    assert fast.shape == plain.shape == exact.shape
    torch.testing.assert_close(fast_loss, plain_loss, rtol=1e-5, atol=1e-6)
    err_plain = ((plain - exact).norm() / exact.norm()).item()
    err_fast = ((fast - exact).norm() / exact.norm()).item()
    assert err_plain < 5e-3 and err_fast <= 2 * err_plain + 1e-7, (err_plain, err_fast)


def test_inference_nets_and_workflow_inference_match():
    wf, _ = _networks()
    fast = accelerate(wf.eval(), for_="infer")
    final = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        for a, b in zip(fast.infer(final), wf.infer(final)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        for a, b in zip(fast.sample(final[:, :1], seed=3), wf.sample(final[:, :1], seed=3)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_accelerating_twice_changes_nothing_and_an_accelerated_module_accelerates_for_editing():
    wf, _ = _networks()
    once = accelerate(wf, for_="train")
    twice = accelerate(once, for_="train")
    assert [type(m) for m in twice.modules()] == [type(m) for m in once.modules()]
    edit = accelerate(once.generators, for_="edit")
    assert all(isinstance(g.up, FrozenUpsamplingPath) for g in edit)
    assert [type(m) for m in edit.modules()] == [type(m) for m in accelerate(wf.generators, for_="edit").modules()]


def test_unknown_purpose_or_precision_is_refused():
    wf, _ = _networks()
    with pytest.raises(ConfigError, match="for_ must be one of"):
        accelerate(wf, for_="fast")
    with pytest.raises(ConfigError, match="amp must be one of"):
        accelerate(wf.generators, for_="edit", amp="fp16")
