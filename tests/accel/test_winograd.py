import pytest
import torch
import torch.nn.functional as F
from torch import nn

from artworkflow.accel import accelerate, winograd
from artworkflow.accel.winograd import WinogradConv2d, kernel_transform, transforms, winograd_conv3x3


def test_transforms_compute_the_one_dimensional_correlation_exactly():
    b_t, g, a_t = transforms()
    torch.manual_seed(0)
    d, k = torch.randn(100, 6, dtype=torch.float64), torch.randn(100, 3, dtype=torch.float64)
    y = ((k @ g.T) * (d @ b_t.T)) @ a_t.T
    direct = torch.stack([(d[:, i:i + 3] * k).sum(1) for i in range(4)], 1)
    torch.testing.assert_close(y, direct, rtol=0, atol=1e-12)


def test_repeated_points_are_refused():
    with pytest.raises(ValueError, match="points"):
        transforms((0.0, 1.0, 1.0, 2.0, -0.5))


@pytest.mark.parametrize("n,cin,cout,size,padding,bias,chunk", [
    (1, 5, 7, (16, 16), 1, True, winograd.CHUNK),
    (2, 3, 4, (13, 22), 0, False, winograd.CHUNK),
    (1, 4, 6, (9, 9), 2, True, 1),            # one tile row per chunk
    (3, 6, 2, (18, 11), 1, False, 100),       # several rows per chunk, last chunk short
])
def test_matches_direct_convolution_in_float64(monkeypatch, n, cin, cout, size, padding, bias, chunk):
    monkeypatch.setattr(winograd, "CHUNK", chunk)
    torch.manual_seed(1)
    x = torch.randn(n, cin, *size, dtype=torch.float64)
    w = torch.randn(cout, cin, 3, 3, dtype=torch.float64)
    b = torch.randn(cout, dtype=torch.float64) if bias else None
    y = winograd_conv3x3(x, kernel_transform(w), b, padding)
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, F.conv2d(x, w, b, padding=padding), rtol=0, atol=1e-11)


def test_float32_error_stays_near_the_direct_convolutions():
    """The interpolation points are chosen for precision: about twice a direct convolution's error
    against float64 (the points 0, ±1, ±2 give about five times)."""
    torch.manual_seed(2)
    x = torch.randn(1, 128, 32, 32).contiguous(memory_format=torch.channels_last)
    w = torch.randn(128, 128, 3, 3) / 34
    exact = F.conv2d(x.double(), w.double(), padding=1)
    direct = (F.conv2d(x, w, padding=1) - exact).abs().max()
    ours = (winograd_conv3x3(x, kernel_transform(w), None, 1) - exact).abs().max()
    assert ours <= 3 * direct


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_input_gradient_is_exact(padding):
    torch.manual_seed(3)
    conv = WinogradConv2d(torch.randn(3, 2, 3, 3, dtype=torch.float64), torch.randn(3, dtype=torch.float64),
                          padding)
    x = torch.randn(2, 2, 7, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,))
    y = conv(x)
    assert y.grad_fn is not None and not any(True for _ in conv.parameters())


def test_falls_back_to_the_direct_convolution_under_autocast_and_for_other_dtypes():
    torch.manual_seed(4)
    plain = nn.Conv2d(8, 8, 3, padding=1)
    conv = WinogradConv2d.from_conv(plain)
    x = torch.randn(1, 8, 12, 12)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y, ref = conv(x), plain(x)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, ref)
    with torch.no_grad():
        assert torch.equal(conv(x.double()), F.conv2d(x.double(), plain.weight.double(), plain.bias.double(),
                                                       padding=1))


def test_edit_acceleration_swaps_only_wide_3x3_stride_1_convolutions():
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(3, 128, 3, padding=1), nn.ReLU(),
                        nn.Sequential(nn.Conv2d(128, 128, 3, padding=1), nn.Conv2d(128, 128, 3, stride=2),
                                      nn.Conv2d(128, 128, 5, padding=2)),
                        nn.Conv2d(128, 128, 3, padding=1, padding_mode="reflect"), nn.Conv2d(128, 256, 3))
    x = torch.randn(1, 3, 20, 20)
    with torch.no_grad():
        ref = net(x)
        swapped = accelerate(net, for_="edit")
        kinds = [type(m).__name__ for m in swapped.modules() if not isinstance(m, (nn.Sequential, nn.ReLU))]
        assert kinds == ["Conv2d", "WinogradConv2d", "Conv2d", "Conv2d", "Conv2d", "WinogradConv2d"]
        torch.testing.assert_close(swapped(x), ref, rtol=1e-4, atol=1e-5)


def test_loaded_weights_renew_the_transformed_kernels():
    torch.manual_seed(6)
    plain, other = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
    conv = WinogradConv2d.from_conv(plain)
    assert list(conv.state_dict()) == list(plain.state_dict()), "same keys; the kernels are not saved"
    conv.load_state_dict(other.state_dict())
    x = torch.randn(1, 8, 12, 12, requires_grad=True)
    y, ref = conv(x), other(x)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)
    (g,), (g_ref,) = torch.autograd.grad(y.sum(), x), torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-5)


def test_without_input_gradient_kernels_a_gradient_still_flows_directly():
    torch.manual_seed(7)
    plain = nn.Conv2d(8, 8, 3, padding=1)
    conv = WinogradConv2d.from_conv(plain, input_gradient=False)
    assert conv.u_grad is None and conv.u is not None
    x = torch.randn(1, 8, 12, 12, requires_grad=True)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), plain(x), rtol=1e-4, atol=1e-5)
    (g,), (g_ref,) = torch.autograd.grad(conv(x).sum(), x), torch.autograd.grad(plain(x).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)
    conv.load_state_dict(plain.state_dict())
    assert conv.u_grad is None
