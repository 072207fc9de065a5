import pytest
import torch

from artworkflow.editing.perceptual import default_perceptual, load_perceptual, random_perceptual
from artworkflow.errors import ConfigError, WeightsNotFoundError


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    monkeypatch.delenv("ARTWORKFLOW_VGG16", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_missing_weights_fall_back_to_no_perceptual_term_with_a_notice(no_weights):
    lines = []
    assert default_perceptual(notice=lines.append) is None
    assert len(lines) == 1 and "ARTWORKFLOW_VGG16" in lines[0]


def test_an_explicit_path_that_points_nowhere_is_an_error(no_weights, tmp_path, monkeypatch):
    with pytest.raises(WeightsNotFoundError):
        default_perceptual(tmp_path / "missing.pth")
    monkeypatch.setenv("ARTWORKFLOW_VGG16", str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsNotFoundError):
        default_perceptual()


def test_choices():
    assert load_perceptual("none") is None
    with pytest.raises(ConfigError):
        load_perceptual("lpips")
    loss = random_perceptual()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    per_sample = loss(x, x.flip(0), reduction="none")
    assert per_sample.shape == (2,) and (per_sample > 0).all()
