import pytest
import torch

from artworkflow.config import ModelConfig, StageSpec, WorkflowSpec, preset
from artworkflow.nn.discriminator import MultiScaleDiscriminator
from artworkflow.nn.encoder import LatentEncoder
from artworkflow.nn.generator import AdaINGenerator
from artworkflow.nn.unet import UNet
from artworkflow.workflow import Discriminators, Workflow

TINY = preset("tiny")[0]


def spec_of(channels):
    return WorkflowSpec("t", tuple(StageSpec(f"s{i}", c) for i, c in enumerate(channels)))


@pytest.mark.parametrize("channels", [(1, 3), (1, 3, 3), (1, 3, 3, 3), (3, 1, 3)])
@pytest.mark.parametrize("resolution", [64, 128])
def test_workflow_shapes(channels, resolution):
    from artworkflow.config import replace
    model = replace(TINY, {"resolution": resolution})
    wf = Workflow(spec_of(channels), model)
    disc = Discriminators(spec_of(channels), model)
    final = torch.rand(2, channels[-1], resolution, resolution) * 2 - 1
    stages = wf.infer(final)
    assert [s.shape for s in stages] == [(2, c, resolution, resolution) for c in channels]
    assert stages[-1] is final
    out = wf.generate(stages[0], zs=wf.random_z(2))
    assert [s.shape for s in out] == [(2, c, resolution, resolution) for c in channels]
    assert all(s.min() >= -1 and s.max() <= 1 for s in out[1:])
    mu, logvar = wf.encode(0, stages[1])
    assert mu.shape == logvar.shape == (2, model.nz)
    assert wf.adain_vector(0, mu).shape == (2, model.adain_dim)
    assert len(disc.encoded) == len(disc.random) == len(disc.inference) == len(channels) - 1


@pytest.mark.parametrize("resolution", [64, 96, 160, 256, 512])
def test_every_multiple_of_32(resolution):
    g, e, u, d = AdaINGenerator(1, 3, width=8, mlp_dim=16), LatentEncoder(3, width=8), UNet(3, 1, 8, 5), \
        MultiScaleDiscriminator(3, 8)
    x = torch.randn(1, 1, resolution, resolution)
    y = g(x, torch.randn(1, 8))
    assert y.shape == (1, 3, resolution, resolution)
    assert e(y)[0].shape == (1, 8)
    assert u(y).shape == (1, 1, resolution, resolution)
    assert all(o.shape[1] == 1 for o in d(y))


def test_paper_adain_dim():
    """8 AdaIN layers × 256 channels × (scale, bias) at width 64, as the paper states."""
    model = ModelConfig()
    g = AdaINGenerator(1, 3, model.width, model.nz, model.n_res, model.mlp_dim)
    assert model.adain_dim == g.adain_dim == 4096


def test_different_z_differ_same_seed_same():
    wf = Workflow(spec_of((1, 3, 3)), TINY).eval()
    x1 = torch.rand(2, 1, 64, 64) * 2 - 1
    a, b, c = wf.sample(x1, seed=1), wf.sample(x1, seed=1), wf.sample(x1, seed=2)
    for s, t in zip(a, b):
        assert torch.equal(s, t)
    assert (a[1] - c[1]).abs().mean() > 1e-4
    assert (a[2] - c[2]).abs().mean() > 1e-4
    assert torch.equal(a[0], c[0])


def test_generate_requires_one_driver():
    wf = Workflow(spec_of((1, 3)), TINY)
    with pytest.raises(ValueError):
        wf.generate(torch.zeros(1, 1, 64, 64))


def test_stage_index():
    wf = Workflow(spec_of((1, 3, 3)), TINY)
    assert wf.stage_index("s2") == 2 and wf.stage_index(1) == 1 and wf.stage_index("0") == 0
    from artworkflow.errors import ArtworkflowError
    with pytest.raises(ArtworkflowError, match="unknown stage"):
        wf.stage_index("nope")


def test_unet_halves_to_a_one_pixel_bottleneck_without_a_norm_there():
    from torch.nn import InstanceNorm2d as InstanceNorm
    assert [preset(p)[0].unet_levels for p in ("tiny", "small", "paper")] == [6, 7, 8]
    assert ModelConfig(resolution=96).unet_levels == 5 and ModelConfig(unet_depth=5).unet_levels == 5
    net = UNet(3, 1, 8, 6)
    seen = []
    net.down[-1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    out = net(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert out.shape == (2, 1, 64, 64) and seen[0][2:] == (1, 1)
    assert not any(isinstance(m, InstanceNorm) for m in net.down[-1].modules())
    assert any(isinstance(m, InstanceNorm) for m in UNet(3, 1, 8, 4, bottleneck_norm=True).down[-1].modules())


def test_latent_encoder_without_norms_keeps_global_colour():
    from torch.nn import InstanceNorm2d as InstanceNorm
    torch.manual_seed(0)
    plain = LatentEncoder(3, 8, 8, 3, norm=False)
    assert not any(isinstance(m, InstanceNorm) for m in plain.modules())
    normed = LatentEncoder(3, 8, 8, 3, norm=True)
    assert sorted(plain.state_dict()) == sorted(normed.state_dict()), "the same weights load either way"
    red, blue = torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    red[:, 0], blue[:, 2] = 1, 1
    assert not torch.allclose(plain(red)[0], plain(blue)[0])
