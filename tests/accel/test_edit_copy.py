"""``accelerate(..., for_="edit")``: frozen channels-last copies (bf16 ones for bf16 editing) that
compute what the plain module computes, and leave the module itself as it was."""
import torch

from artworkflow.accel import accelerate
from artworkflow.accel.winograd import WinogradConv2d
from artworkflow.editing.adain_opt import optimize_stage, stage_objective
from artworkflow.nn.generator import AdaINGenerator


def _generator() -> AdaINGenerator:
    torch.manual_seed(0)
    return AdaINGenerator(1, 3, 8, nz=4, n_res=2, mlp_dim=16)


def test_copies_are_frozen_channels_last_in_their_precision_and_leave_the_module_alone():
    g = _generator()
    keys = list(g.state_dict())
    full, half = accelerate(g, for_="edit"), accelerate(g, for_="edit", amp="bf16")
    assert full is not g and half is not g and full is not half
    for twin, dtype in ((full, torch.float32), (half, torch.bfloat16)):
        conv = twin.res[0].conv1.weight
        assert conv.dtype == dtype and conv.is_contiguous(memory_format=torch.channels_last)
        assert not any(p.requires_grad for p in twin.parameters()) and not twin.training
        assert list(twin.state_dict()) == keys
    assert all(p.requires_grad for p in g.parameters()) and g.training
    assert g.res[0].conv1.weight.dtype == torch.float32 and g.res[0].conv1.weight.is_contiguous()
    assert type(g.up) is torch.nn.Sequential and type(g.res[0].adain).__module__ == "artworkflow.nn.norm"


def test_float32_copy_computes_what_the_module_computes():
    g = _generator().eval()
    x, z = torch.rand(2, 1, 32, 32) * 2 - 1, torch.randn(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(accelerate(g, for_="edit")(x, z), g(x, z), rtol=0, atol=1e-5)


def test_bf16_optimisation_with_the_copy_stays_close_to_float32():
    g = _generator()
    torch.manual_seed(1)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    ref = torch.rand(1, 3, 32, 32) * 2 - 1
    start = g.adain_vector(torch.randn(1, 4)).detach()
    v32, h32 = optimize_stage(g, x, ref, start, steps=5)
    v16, h16 = optimize_stage(accelerate(g, for_="edit", amp="bf16"), x, ref, start, steps=5, amp="bf16")
    assert h16[-1].item() < h16[0].item()
    torch.testing.assert_close(h16, h32, rtol=2e-2, atol=0)
    assert v16.dtype == torch.float32


def test_float32_copy_of_a_wide_generator_runs_winograd_and_optimises_like_the_original():
    """From 128 channels the float32 copy's 3×3 convolutions (and the decoder's upsampling phase
    convolutions) run as Winograd F(4×4, 3×3); the optimisation follows the plain networks'."""
    torch.manual_seed(2)
    g = AdaINGenerator(1, 3, 32, nz=4, n_res=1, mlp_dim=16).requires_grad_(False).eval()
    twin = accelerate(g, for_="edit")
    assert isinstance(twin.res[0].conv1, WinogradConv2d) and isinstance(twin.content[3].body[0][1], WinogradConv2d)
    assert twin.up.phase0_u is not None and isinstance(g.res[0].conv1, torch.nn.Conv2d)
    assert twin.res[0].conv1.u_grad is not None and twin.up.phase0_u_grad is not None
    assert twin.content[3].body[0][1].u_grad is None, "the content encoder is never differentiated in editing"
    x, ref = torch.rand(1, 1, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    start = g.adain_vector(torch.randn(1, 4))
    z = torch.randn(1, 4)
    with torch.no_grad():
        torch.testing.assert_close(twin(x, z), g(x, z), rtol=0, atol=1e-5)
    delta = torch.zeros_like(start, requires_grad=True)
    loss_w, _ = stage_objective(twin, x, ref)(start + delta)
    (grad_w,) = torch.autograd.grad(loss_w.sum(), delta)
    delta_p = delta.detach().clone().requires_grad_(True)
    loss_p = (g.decode(g.encode_content(x), start + delta_p) - ref).abs().mean()
    (grad_p,) = torch.autograd.grad(loss_p, delta_p)
    torch.testing.assert_close(loss_w, loss_p.view(1), rtol=1e-5, atol=0)
    torch.testing.assert_close(grad_w, grad_p, rtol=1e-4, atol=1e-8)
