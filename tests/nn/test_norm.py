import pytest
import torch
import torch.nn.functional as F

from artworkflow.nn.norm import InstanceNorm, adain


def _reference(x, scale, bias):
    return F.instance_norm(x, eps=1e-5) * scale[:, :, None, None] + bias[:, :, None, None]


@pytest.mark.parametrize("channels_last", [False, True])
def test_adain_matches_instance_norm_formula_with_gradients(channels_last):
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = (torch.randn(3, 5, 6, 7) * 2 + 1).contiguous(memory_format=fmt)
    s, b = torch.randn(3, 5), torch.randn(3, 5)
    inputs = [t.clone().requires_grad_(True) for t in (x, s, b)]
    refs = [t.clone().requires_grad_(True) for t in (x, s, b)]
    out, ref = adain(*inputs), _reference(*refs)
    assert out.is_contiguous(memory_format=fmt)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    weight = torch.randn_like(ref)
    grads = torch.autograd.grad((out * weight).sum(), inputs)
    ref_grads = torch.autograd.grad((ref * weight).sum(), refs)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("channels_last", [False, True])
def test_instance_norm_matches_torch_on_nearly_constant_channels_and_passes_gradcheck(channels_last):
    torch.manual_seed(1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = (torch.randn(2, 3, 8, 8) * 0.01 + 100).contiguous(memory_format=fmt)
    torch.testing.assert_close(InstanceNorm(3)(x).double(), F.instance_norm(x.double(), eps=1e-5), atol=2e-3, rtol=0)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64).contiguous(memory_format=fmt).requires_grad_(True)
    assert torch.autograd.gradcheck(InstanceNorm(3), (x,))
    s, b = (torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(adain, (x, s, b))


def test_bf16_adain_keeps_dtype_and_stays_close():
    torch.manual_seed(2)
    x, s, b = torch.randn(2, 8, 16, 16), torch.randn(2, 8), torch.randn(2, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = adain(x.bfloat16(), s, b)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), _reference(x, s, b), atol=5e-2, rtol=2e-2)
