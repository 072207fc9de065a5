"""The one decode path: prepared decoding is the generator's decode, and editing's accelerated copy
decodes what the plain generator decodes, forward and backward."""
import pytest
import torch

from artworkflow.accel import accelerate
from artworkflow.editing.render import stage_decoder
from artworkflow.nn.generator import AdaINGenerator


def _generator(cin=1, cout=3, width=8, n_res=2, seed=0) -> AdaINGenerator:
    torch.manual_seed(seed)
    return AdaINGenerator(cin, cout, width, nz=4, n_res=n_res, mlp_dim=16)


def test_prepared_decoding_is_the_generators_decode():
    g = _generator()
    content = g.encode_content(torch.randn(2, 1, 16, 16)).detach()
    adain = g.adain_vector(torch.randn(2, 4)).detach()
    assert torch.equal(g.decode_prepared(g.prepare(content), adain), g.decode(content, adain))


@pytest.mark.parametrize("cin,cout,width,n_res,size", [(1, 3, 8, 2, (32, 32)), (3, 1, 8, 1, (24, 40)),
                                                     (1, 3, 32, 1, (24, 40))])  # Winograd convolutions
def test_edit_copy_decodes_like_the_plain_generator_with_gradients(cin, cout, width, n_res, size):
    g = _generator(cin, cout, width, n_res)
    x = torch.randn(2, cin, *size)
    adain = g.adain_vector(torch.randn(2, 4)).detach() + 0.3 * torch.randn(2, g.adain_dim)
    a1, a2 = adain.clone().requires_grad_(True), adain.clone().requires_grad_(True)
    ref = g.decode(g.encode_content(x).detach(), a1)
    fast = stage_decoder(accelerate(g, for_="edit"), x)(a2)
    assert fast.shape == ref.shape and fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    (g1,), (g2,) = torch.autograd.grad(ref.square().sum(), a1), torch.autograd.grad(fast.square().sum(), a2)
    torch.testing.assert_close(g2, g1, atol=1e-4, rtol=1e-4)


def test_edit_copy_is_a_snapshot_renewed_by_loading_weights():
    g = _generator(3, 3, 8, 1, seed=1).requires_grad_(False)
    x, adain = torch.randn(1, 3, 16, 16), g.adain_vector(torch.randn(1, 4))
    copy = accelerate(g, for_="edit")
    before = stage_decoder(copy, x)(adain)
    with torch.no_grad():
        for m in g.up.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(-0.5)
    now = g.decode(g.encode_content(x), adain)
    assert torch.equal(stage_decoder(copy, x)(adain), before), "a copy keeps the weights it was made of"
    torch.testing.assert_close(stage_decoder(accelerate(g, for_="edit"), x)(adain), now, atol=1e-5, rtol=1e-5)
    copy.load_state_dict(g.state_dict())
    torch.testing.assert_close(stage_decoder(copy, x)(adain), now, atol=1e-5, rtol=1e-5)


def test_bf16_copy_decodes_close_to_float32():
    g = _generator(seed=2).requires_grad_(False)
    x, adain = torch.randn(1, 1, 32, 32), g.adain_vector(torch.randn(1, 4))
    fast = stage_decoder(accelerate(g, for_="edit", amp="bf16"), x, "bf16")(adain)
    assert fast.dtype == torch.bfloat16
    torch.testing.assert_close(fast.float(), g.decode(g.encode_content(x), adain), atol=5e-2, rtol=0)
