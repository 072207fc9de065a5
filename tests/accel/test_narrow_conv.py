import pytest
import torch
from torch import nn

from artworkflow.accel.narrow_conv import NarrowConv2d, _NarrowConv


@pytest.mark.parametrize("k,pad,bias", [(7, 0, True), (4, 1, True), (3, 1, False)])
def test_narrow_conv_backward_passes_gradcheck(k, pad, bias):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, k, k, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True) if bias else None
    assert torch.autograd.gradcheck(lambda *a: _NarrowConv.apply(*a, pad), (x, w, b))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("amp", [False, True])
def test_narrow_conv_equals_conv2d_forward_and_backward(channels_last, amp):
    torch.manual_seed(1)
    narrow = NarrowConv2d(16, 3, 7, padding=1)
    plain = nn.Conv2d(16, 3, 7, padding=1)
    plain.load_state_dict(narrow.state_dict())
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 16, 20, 20).contiguous(memory_format=fmt)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        y1, y2 = narrow(x1), plain(x2)
    assert y1.dtype == y2.dtype
    torch.testing.assert_close(y1, y2, atol=0, rtol=0)
    g = torch.randn_like(y1)
    got = torch.autograd.grad(y1, (x1, narrow.weight, narrow.bias), g)
    want = torch.autograd.grad(y2, (x2, plain.weight, plain.bias), g)
    tol = 2e-2 if amp else 1e-5
    for a, b in zip(got, want):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, atol=tol * b.abs().max().item(), rtol=0)
    assert got[0].is_contiguous(memory_format=fmt)


def test_narrow_conv_refuses_wide_outputs():
    with pytest.raises(ValueError):
        NarrowConv2d(8, 16, 3)
