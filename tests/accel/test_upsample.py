"""Phase-convolution upsampling against the plain nearest ×2 + reflect-padded 5×5 convolution."""
import pytest
import torch
from torch import nn

from artworkflow.accel.upsample import FrozenUpsamplingPath, UpsamplingPath, phase_weights
from artworkflow.nn.blocks import conv_block


def _plain(cin: int, cout: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv_block(cin, cout, 5, norm="ln"),
                         conv_block(cout, 2, 7, norm="none", act="tanh"))


@pytest.mark.parametrize("size,channels_last", [((8, 8), False), ((6, 10), False), ((8, 8), True)])
def test_upsampling_path_equals_plain_layers_with_gradients(size, channels_last):
    plain = _plain(4, 6)
    fast = UpsamplingPath(plain)
    assert fast.heads == (0,)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 4, *size).contiguous(memory_format=fmt)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y_fast, y_plain = fast(x1), plain(x2)
    assert y_fast.shape == (2, 2, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(y_fast, y_plain, atol=1e-5, rtol=1e-5)
    params = list(fast.parameters())
    assert params == list(plain.parameters()), "the very parameters of the plain layers"
    g_fast = torch.autograd.grad(y_fast.square().sum(), [x1, *params])
    g_plain = torch.autograd.grad(y_plain.square().sum(), [x2, *params])
    assert y_fast.is_contiguous(memory_format=fmt) and g_fast[0].is_contiguous(memory_format=fmt)
    for a, b in zip(g_fast, g_plain):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_upsampling_path_keeps_the_weight_names_of_a_plain_sequential():
    plain = _plain(4, 6)
    assert list(UpsamplingPath(plain).state_dict()) == list(plain.state_dict())
    assert list(FrozenUpsamplingPath(plain).state_dict()) == list(plain.state_dict())


@pytest.mark.parametrize("cin,cout", [(4, 6), (128, 64)])  # 128 → 4·64 phase outputs: Winograd
def test_frozen_path_equals_plain_layers_and_follows_loaded_weights(cin, cout):
    plain = _plain(cin, cout).requires_grad_(False)
    frozen = FrozenUpsamplingPath(plain)
    assert (frozen.phase0_u is not None) == (cin >= 128)
    x = torch.randn(1, cin, 8, 8).contiguous(memory_format=torch.channels_last)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y_frozen, y_plain = frozen(x1), plain(x2)
    torch.testing.assert_close(y_frozen, y_plain, atol=1e-5, rtol=1e-5)
    (g1,), (g2,) = torch.autograd.grad(y_frozen.sum(), x1), torch.autograd.grad(y_plain.sum(), x2)
    torch.testing.assert_close(g1, g2, atol=1e-4, rtol=1e-4)
    other = _plain(cin, cout)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-0.5)
    frozen.load_state_dict(other.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(frozen(x), other(x), atol=1e-5, rtol=1e-5)


def test_phase_weights_sum_every_tap_once_per_phase():
    w = torch.randn(5, 3, 5, 5)
    k, b = phase_weights(w, torch.randn(5))
    assert k.shape == (20, 3, 3, 3) and b.shape == (20,)
    torch.testing.assert_close(k.view(4, 5, 3, 3, 3).sum((3, 4)), w.sum((2, 3))[None].expand(4, 5, 3))
