import torch

from artworkflow.editing.adain_opt import optimize_stage
from artworkflow.editing.lowprecision import autocast_copy
from artworkflow.nn.generator import AdaINGenerator


def _generator() -> AdaINGenerator:
    torch.manual_seed(0)
    return AdaINGenerator(1, 3, 8, nz=4, n_res=2, mlp_dim=16).requires_grad_(False)


def test_copy_is_frozen_bf16_channels_last_cached_and_renewed_after_a_weight_change():
    g = _generator()
    assert autocast_copy(g, "none") is g
    half = autocast_copy(g, "bf16")
    assert half is not g and autocast_copy(g, "bf16") is half
    conv = half.res[0].conv1.weight
    assert conv.dtype == torch.bfloat16 and conv.is_contiguous(memory_format=torch.channels_last)
    assert not any(p.requires_grad for p in half.parameters())
    assert g.res[0].conv1.weight.dtype == torch.float32 and g.res[0].conv1.weight.is_contiguous()
    with torch.no_grad():
        g.res[0].conv1.weight.mul_(2)
    renewed = autocast_copy(g, "bf16")
    assert renewed is not half
    torch.testing.assert_close(renewed.res[0].conv1.weight.float(), g.res[0].conv1.weight, rtol=1e-2, atol=0)


def test_bf16_optimisation_with_the_copy_stays_close_to_float32():
    g = _generator()
    torch.manual_seed(1)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    ref = torch.rand(1, 3, 32, 32) * 2 - 1
    start = g.adain_vector(torch.randn(1, 4))
    v32, h32 = optimize_stage(g, x, ref, start, steps=5)
    v16, h16 = optimize_stage(g, x, ref, start, steps=5, amp="bf16")
    assert h16[-1].item() < h16[0].item()
    torch.testing.assert_close(h16, h32, rtol=2e-2, atol=0)
    assert v16.dtype == torch.float32
