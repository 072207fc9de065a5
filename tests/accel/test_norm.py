"""The layout-keeping norm kernels against the plain norms of artworkflow.nn, forward and backward."""
import pytest
import torch
import torch.nn.functional as F

from artworkflow.accel.norm import FastAdaIN, FastInstanceNorm, FastLayerNorm, _LayerNorm
from artworkflow.nn.norm import AdaIN, LayerNorm

adain = FastAdaIN()
InstanceNorm = FastInstanceNorm
_reference = AdaIN()


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


def _layer_norm_reference(x, gamma, beta, eps=1e-5):
    plain = LayerNorm(gamma.shape[0], eps)
    plain.gamma, plain.beta = gamma, beta  # the very parameters, so gradients reach them
    return plain(x)


@pytest.mark.parametrize("channels_last", [False, True])
def test_layer_norm_matches_formula_keeps_layout_and_passes_gradcheck(channels_last):
    torch.manual_seed(3)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    ln = FastLayerNorm(4).double()
    with torch.no_grad():
        ln.gamma.uniform_(0.5, 1.5)
        ln.beta.normal_()
    x = (torch.randn(2, 4, 5, 6, dtype=torch.float64) * 3 + 2).contiguous(memory_format=fmt).requires_grad_(True)
    y = ln(x)
    assert y.is_contiguous(memory_format=fmt)
    torch.testing.assert_close(y, _layer_norm_reference(x, ln.gamma, ln.beta))
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, ln.gamma, ln.beta), g)
    want = torch.autograd.grad(_layer_norm_reference(x, ln.gamma, ln.beta), (x, ln.gamma, ln.beta), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    assert got[0].is_contiguous(memory_format=fmt)
    assert torch.autograd.gradcheck(lambda x, g, b: _LayerNorm.apply(x, g, b, 1e-5), (x, ln.gamma, ln.beta))


def test_bf16_layer_norm_keeps_dtype_and_stays_close():
    torch.manual_seed(4)
    ln = FastLayerNorm(8)
    x = torch.randn(2, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ln(x.bfloat16())
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out.float(), _layer_norm_reference(x, ln.gamma, ln.beta), atol=5e-2, rtol=2e-2)


def test_float16_statistics_do_not_overflow():
    x = (torch.randn(1, 2, 64, 64) * 0.5 + 30).half()
    y = InstanceNorm(2)(x.contiguous(memory_format=torch.channels_last))
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), F.instance_norm(x.float(), eps=1e-5), atol=2e-2, rtol=0)
    ln = FastLayerNorm(2)(x)
    assert torch.isfinite(ln).all()


def test_adain_halves_compose_to_the_fused_kernel_with_gradients():
    """The first AdaIN of a block is normalised once and modulated per vector (prepared decoding);
    the fused kernel computes the same function."""
    torch.manual_seed(5)
    x = torch.randn(2, 6, 8, 8).contiguous(memory_format=torch.channels_last)
    s, b = torch.randn(2, 6, requires_grad=True), torch.randn(2, 6, requires_grad=True)
    halves = adain.modulate(adain.normalize(x), s, b)
    fused = adain(x, s, b)
    assert halves.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(halves, fused, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(fused)
    for a, c in zip(torch.autograd.grad(halves, (s, b), g), torch.autograd.grad(fused, (s, b), g)):
        torch.testing.assert_close(a, c, atol=1e-4, rtol=1e-4)
