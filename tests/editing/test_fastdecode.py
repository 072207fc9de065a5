import pytest
import torch

from artworkflow.editing.fastdecode import prepare_decoder
from artworkflow.nn.generator import AdaINGenerator


@pytest.mark.parametrize("cin,cout,width,n_res,size", [(1, 3, 8, 2, (32, 32)), (3, 1, 8, 1, (24, 40)),
                                                     (1, 3, 32, 1, (24, 40))])  # Winograd phase convolutions
def test_fast_decode_matches_generator(cin, cout, width, n_res, size):
    torch.manual_seed(0)
    g = AdaINGenerator(cin, cout, width, nz=4, n_res=n_res, mlp_dim=16)
    x = torch.randn(2, cin, *size)
    adain = g.adain_vector(torch.randn(2, 4)).detach() + 0.3 * torch.randn(2, g.adain_dim)
    content = g.encode_content(x).detach()
    a1, a2 = adain.clone().requires_grad_(True), adain.clone().requires_grad_(True)
    ref, fast = g.decode(content, a1), prepare_decoder(g, content)(a2)
    assert fast.shape == ref.shape
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    (g1,), (g2,) = torch.autograd.grad(ref.square().sum(), a1), torch.autograd.grad(fast.square().sum(), a2)
    torch.testing.assert_close(g2, g1, atol=1e-4, rtol=1e-4)


def test_changed_weights_are_picked_up():
    torch.manual_seed(1)
    g = AdaINGenerator(3, 3, 8, nz=4, n_res=1, mlp_dim=16).requires_grad_(False)
    content = g.encode_content(torch.randn(1, 3, 16, 16))
    adain = g.adain_vector(torch.randn(1, 4))
    prepare_decoder(g, content)(adain)
    with torch.no_grad():
        for m in g.up.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(-0.5)
    torch.testing.assert_close(prepare_decoder(g, content)(adain), g.decode(content, adain), atol=1e-5, rtol=1e-5)


def test_bf16_autocast_stays_close_to_float32():
    torch.manual_seed(2)
    g = AdaINGenerator(1, 3, 8, nz=4, n_res=2, mlp_dim=16).requires_grad_(False)
    content = g.encode_content(torch.randn(1, 1, 32, 32))
    adain = g.adain_vector(torch.randn(1, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = prepare_decoder(g, content)(adain)
    assert fast.dtype == torch.bfloat16
    torch.testing.assert_close(fast.float(), g.decode(content, adain), atol=5e-2, rtol=0)
