"""FID Inception-v3: layout compatible with pt_inception-2015-12-05-6726825d.pth (random weights)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from artworkflow.errors import CheckpointError, WeightsNotFoundError
from artworkflow.nn import inception as inception_module
from artworkflow.nn.inception import FIDInceptionV3, load_inception


@pytest.fixture(scope="module")
def model() -> FIDInceptionV3:
    torch.manual_seed(0)
    model = FIDInceptionV3()
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return model


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("ARTWORKFLOW_INCEPTION", raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def _expected_parameter_count() -> int:
    """torchvision documents 27,161,264 parameters for inception_v3 (1000 classes, with AuxLogits).
    The FID network has no AuxLogits and a 1008-way fc."""
    torchvision_total = 27_161_264
    aux = (768 * 128 + 2 * 128) + (128 * 768 * 5 * 5 + 2 * 768) + (768 * 1000 + 1000)
    fc_delta = (2048 * 1008 + 1008) - (2048 * 1000 + 1000)
    return torchvision_total - aux + fc_delta


def test_parameter_count_matches_fid_inception(model):
    assert _expected_parameter_count() == 23_850_960
    assert sum(p.numel() for p in model.parameters()) == 23_850_960


def test_key_names_and_shapes(model):
    state = model.state_dict()
    shapes = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_1a_3x3.bn.running_var": (32,),
        "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
        "Mixed_6e.branch7x7dbl_4.conv.weight": (192, 192, 7, 1),
        "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
        "Mixed_7b.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
        "fc.weight": (1008, 2048),
        "fc.bias": (1008,),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("AuxLogits") for k in state)
    assert not any(k.endswith("conv.bias") for k in state)
    assert model.Conv2d_1a_3x3.bn.eps == pytest.approx(1e-3)


def test_forward_shape_grayscale_and_resize(model):
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    out = model(x)
    assert out.shape == (2, 2048)
    assert torch.isfinite(out).all() and out.abs().mean() > 1e-2
    resized_rgb = F.interpolate(x[:1].repeat(1, 3, 1, 1), size=(299, 299), mode="bilinear",
                                align_corners=False)
    torch.testing.assert_close(out[:1], model(resized_rgb))


def test_pooling_ignores_padding_and_model_stays_frozen(model):
    pooled = inception_module._avg_pool(torch.ones(1, 1, 5, 5))
    torch.testing.assert_close(pooled, torch.ones(1, 1, 5, 5))
    assert model.Mixed_7c.max_pool and not model.Mixed_7b.max_pool
    model.train()
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_load_round_trip_env_and_missing(model, tmp_path, no_weights, monkeypatch):
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.manual_seed(3)
    for k, v in state.items():
        if k.endswith("running_mean"):
            state[k] = torch.randn_like(v) * 0.1
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)

    monkeypatch.setenv("ARTWORKFLOW_INCEPTION", str(path))
    loaded = load_inception()
    torch.testing.assert_close(loaded.Mixed_6c.branch1x1.bn.running_mean,
                               state["Mixed_6c.branch1x1.bn.running_mean"])
    assert loaded.state_dict().keys() == model.state_dict().keys()

    monkeypatch.delenv("ARTWORKFLOW_INCEPTION")
    with pytest.raises(WeightsNotFoundError) as info:
        load_inception()
    msg = str(info.value)
    assert "ARTWORKFLOW_INCEPTION" in msg
    assert "pt_inception-2015-12-05-6726825d.pth" in msg
    assert inception_module.INCEPTION_URL in msg


def test_wrong_file_raises_checkpoint_error(tmp_path):
    bad = tmp_path / "not_inception.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
    with pytest.raises(CheckpointError, match="not_inception.pth"):
        load_inception(bad)
