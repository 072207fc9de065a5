"""VGG16 perceptual features: torchvision key layout, weight lookup and loss behaviour (random weights)."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from artworkflow.errors import CheckpointError, WeightsNotFoundError
from artworkflow.nn import vgg as vgg_module
from artworkflow.nn.vgg import PerceptualLoss, VGG16Features, load_vgg16

TORCHVISION_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
TORCHVISION_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


@pytest.fixture(scope="module")
def vgg() -> VGG16Features:
    torch.manual_seed(0)
    return VGG16Features()


@pytest.fixture
def torchvision_file(tmp_path):
    """A file laid out like vgg16-397923af.pth: all 13 convs under features.N plus a classifier."""
    torch.manual_seed(1)
    full = VGG16Features(("relu5_3",))
    state = dict(full.state_dict())
    state["classifier.0.weight"] = torch.randn(8, 8)
    state["classifier.0.bias"] = torch.randn(8)
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    return path, full


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("ARTWORKFLOW_VGG16", raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def test_full_module_matches_torchvision_keys_and_shapes():
    full = VGG16Features(("pool5",))
    state = full.state_dict()
    expected = {f"features.{i}.{p}" for i in TORCHVISION_CONV_INDICES for p in ("weight", "bias")}
    assert set(state) == expected
    in_ch = 3
    for i, out_ch in zip(TORCHVISION_CONV_INDICES, TORCHVISION_CHANNELS):
        assert state[f"features.{i}.weight"].shape == (out_ch, in_ch, 3, 3)
        in_ch = out_ch
    assert len(full.features) == 31


def test_builds_only_up_to_deepest_layer():
    small = VGG16Features(("relu1_2",))
    assert set(small.state_dict()) == {"features.0.weight", "features.0.bias",
                                        "features.2.weight", "features.2.bias"}
    with pytest.raises(ValueError, match="deeper"):
        small(torch.zeros(1, 3, 16, 16), layers=("relu2_1",))
    with pytest.raises(ValueError, match="unknown"):
        VGG16Features(("relu9_9",))


def test_layer_shapes_for_64px(vgg):
    out = vgg(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert list(out) == ["relu1_1", "relu1_2", "relu3_2", "relu4_2"]
    assert out["relu1_1"].shape == (2, 64, 64, 64)
    assert out["relu1_2"].shape == (2, 64, 64, 64)
    assert out["relu3_2"].shape == (2, 256, 16, 16)
    assert out["relu4_2"].shape == (2, 512, 8, 8)
    assert all((v >= 0).all() for v in out.values())


def test_input_range_is_mapped_to_imagenet_normalisation(vgg):
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    got = vgg.normalize(x)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = (torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3) - mean) / std
    torch.testing.assert_close(got, expected)
    assert "mean" not in vgg.state_dict()


def test_single_channel_equals_repeated_rgb(vgg):
    gray = torch.rand(2, 1, 32, 32) * 2 - 1
    a = vgg(gray)
    b = vgg(gray.repeat(1, 3, 1, 1))
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_frozen_but_gradients_reach_input(vgg):
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    x = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    vgg(x)["relu3_2"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_load_round_trips_torchvision_layout(torchvision_file):
    path, full = torchvision_file
    loaded = load_vgg16(path)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    ref, got = full(x, loaded.layers), loaded(x)
    for name in got:
        assert torch.equal(ref[name], got[name])
    assert not any(p.requires_grad for p in loaded.parameters())


def test_load_safetensors(torchvision_file, tmp_path):
    path, full = torchvision_file
    st = tmp_path / "vgg16.safetensors"
    save_file({k: v.contiguous() for k, v in torch.load(path, weights_only=True).items()}, str(st))
    loaded = load_vgg16(st)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(full(x, ("relu4_2",))["relu4_2"], loaded(x, ("relu4_2",))["relu4_2"])


def test_env_var_lookup(torchvision_file, no_weights, monkeypatch):
    path, full = torchvision_file
    monkeypatch.setenv("ARTWORKFLOW_VGG16", str(path))
    loaded = load_vgg16()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.equal(full(x, ("relu1_1",))["relu1_1"], loaded(x, ("relu1_1",))["relu1_1"])


def test_hub_cache_lookup(torchvision_file, no_weights):
    path, _ = torchvision_file
    (no_weights / "checkpoints").mkdir(parents=True)
    (no_weights / "checkpoints" / "vgg16-397923af.pth").write_bytes(path.read_bytes())
    assert isinstance(load_vgg16(), VGG16Features)


def test_missing_weights_message(no_weights):
    with pytest.raises(WeightsNotFoundError) as info:
        load_vgg16()
    msg = str(info.value)
    assert "ARTWORKFLOW_VGG16" in msg
    assert str(no_weights / "checkpoints" / "vgg16-397923af.pth") in msg
    assert vgg_module.VGG16_URL in msg
    assert "\n" not in msg


def test_explicit_missing_path_is_not_silently_skipped(torchvision_file, no_weights, tmp_path):
    path, _ = torchvision_file
    (no_weights / "checkpoints").mkdir(parents=True)
    (no_weights / "checkpoints" / "vgg16-397923af.pth").write_bytes(path.read_bytes())
    with pytest.raises(WeightsNotFoundError, match="nowhere.pth"):
        load_vgg16(tmp_path / "nowhere.pth")


def test_wrong_shapes_or_keys_raise_checkpoint_error(torchvision_file, tmp_path):
    path, _ = torchvision_file
    state = torch.load(path, weights_only=True)
    state["features.12.weight"] = torch.zeros(256, 128, 3, 3)
    bad = tmp_path / "bad_shape.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match="bad_shape.pth"):
        load_vgg16(bad)

    missing = tmp_path / "missing_key.pth"
    torch.save({k: v for k, v in state.items() if k != "features.0.bias"}, missing)
    with pytest.raises(CheckpointError, match="features.0.bias"):
        load_vgg16(missing)

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_vgg16(garbage)


def test_perceptual_loss_values_and_reductions(vgg):
    loss = PerceptualLoss(vgg)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    y = torch.rand(3, 3, 16, 16) * 2 - 1
    assert loss(x, x).item() == 0.0
    mean_loss = loss(x, y)
    assert mean_loss.dim() == 0 and mean_loss.item() > 0

    per = loss(x, y, reduction="none")
    assert per.shape == (3,)
    assert (per > 0).all()
    torch.testing.assert_close(per.mean(), mean_loss)
    torch.testing.assert_close(per[1], loss(x[1:2], y[1:2]))

    with torch.no_grad():
        fx, fy = vgg(x), loss.features(y)
    # the published form: mean ℓ1 per layer, summed over the layers (no average over layers)
    manual = sum((fx[n] - fy[n]).abs().mean() for n in vgg.layers)
    torch.testing.assert_close(mean_loss, manual)
    torch.testing.assert_close(loss(x, y_features=fy), mean_loss)
    with pytest.raises(ValueError):
        loss(x)


def test_perceptual_loss_broadcasts_single_target_and_reaches_input(vgg):
    loss = PerceptualLoss(vgg, reduction="none")
    target = torch.rand(1, 1, 16, 16) * 2 - 1
    x = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    with torch.no_grad():
        feats = loss.features(target)
    per = loss(x, y_features=feats)
    assert per.shape == (4,)
    torch.testing.assert_close(per, loss(x, target.expand(4, 3, 16, 16)))
    per[1].backward()
    assert x.grad[1].abs().sum() > 0
    assert x.grad[0].abs().sum() == 0


def test_perceptual_loss_under_bf16_channels_last_stays_close_to_float32(vgg):
    loss = PerceptualLoss(vgg, reduction="none")
    torch.manual_seed(5)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    want = loss(x, y)
    cl = torch.channels_last
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        feats = loss.features(y.contiguous(memory_format=cl))
    assert all(f.dtype == torch.bfloat16 and f.is_contiguous(memory_format=cl) for f in feats.values())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss(x.contiguous(memory_format=cl), y_features=feats)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=3e-2, atol=0)


def test_mean_abs_distance_gradcheck_broadcast_and_plain_formula():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    y = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(vgg_module._mean_abs_distance, (x, y))
    plain = lambda a, b: (a - b).abs().flatten(1).mean(1)  # noqa: E731
    for dtype, fmt, tol in ((torch.float32, torch.contiguous_format, 1e-6),
                            (torch.float32, torch.channels_last, 1e-6), (torch.bfloat16, torch.channels_last, 1e-2)):
        a = torch.randn(2, 8, 16, 16).to(dtype).contiguous(memory_format=fmt).requires_grad_(True)
        b = torch.randn(1, 8, 16, 16).to(dtype).contiguous(memory_format=fmt)
        got = vgg_module._mean_abs_distance(a, b)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, plain(a.double(), b.double()).float(), rtol=tol, atol=0)
        (grad,) = torch.autograd.grad(got.sum(), a)
        assert grad.is_contiguous(memory_format=fmt)
        torch.testing.assert_close(grad.double(), (a - b).sign().double() / a[0].numel(), rtol=tol, atol=1e-6)


def test_mean_abs_distance_of_float16_does_not_overflow():
    x = torch.full((1, 64, 64, 64), 300.0, dtype=torch.float16)
    got = vgg_module._mean_abs_distance(x, torch.zeros_like(x))
    assert torch.isfinite(got).all() and abs(float(got) - 300.0) / 300.0 < 1e-3
