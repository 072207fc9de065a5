import pytest
import torch
from torch import nn

from artworkflow.nn.blocks import conv_block
from artworkflow.nn.upsample import UpsamplingPath, phase_weights


def _paths(cin: int, cout: int) -> tuple[UpsamplingPath, nn.Sequential]:
    torch.manual_seed(0)
    fast = UpsamplingPath(nn.Upsample(scale_factor=2, mode="nearest"), conv_block(cin, cout, 5, norm="ln"),
                          conv_block(cout, 2, 7, norm="none", act="tanh"))
    return fast, nn.Sequential(*fast)


@pytest.mark.parametrize("size,channels_last", [((8, 8), False), ((6, 10), False), ((8, 8), True)])
def test_upsampling_path_equals_plain_layers_with_gradients(size, channels_last):
    fast, plain = _paths(4, 6)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 4, *size).contiguous(memory_format=fmt)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y_fast, y_plain = fast(x1), plain(x2)
    assert y_fast.shape == (2, 2, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(y_fast, y_plain, atol=1e-5, rtol=1e-5)
    params = list(fast.parameters())
    g_fast = torch.autograd.grad(y_fast.square().sum(), [x1, *params])
    g_plain = torch.autograd.grad(y_plain.square().sum(), [x2, *params])
    assert y_fast.is_contiguous(memory_format=fmt) and g_fast[0].is_contiguous(memory_format=fmt)
    for a, b in zip(g_fast, g_plain):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_upsampling_path_keeps_the_weight_names_of_a_plain_sequential():
    fast, plain = _paths(4, 6)
    assert list(fast.state_dict()) == list(plain.state_dict())


def test_phase_weights_sum_every_tap_once_per_phase():
    w = torch.randn(5, 3, 5, 5)
    k, b = phase_weights(w, torch.randn(5))
    assert k.shape == (20, 3, 3, 3) and b.shape == (20,)
    torch.testing.assert_close(k.view(4, 5, 3, 3, 3).sum((3, 4)), w.sum((2, 3))[None].expand(4, 5, 3))
