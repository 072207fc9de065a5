"""The small-budget training aids: DiffAugment before the critics and the weight average (EMA)."""
import pytest
import torch
from safetensors.torch import load_file

from artworkflow.config import preset, replace
from artworkflow.errors import ConfigError
from artworkflow.train.augment import diff_augment, keyed_uniform
from artworkflow.train.checkpoint import AVERAGE_FILE, latest_checkpoint
from artworkflow.train.loop import train

MODEL, CFG = preset("tiny")
ALL = ("color", "translation", "cutout")


def test_augmentation_is_keyed_differentiable_and_does_what_it_says():
    x = (torch.rand(3, 3, 32, 32) * 2 - 1).requires_grad_(True)
    ids = torch.tensor([0, 1, 2])
    u = keyed_uniform(0, 5, ids, 7, 7)
    assert torch.equal(u, keyed_uniform(0, 5, ids, 7, 7)) and not torch.equal(u, keyed_uniform(0, 6, ids, 7, 7))
    assert torch.equal(u[1:], keyed_uniform(0, 5, ids[1:], 7, 7)), "a sample's draws depend on its id only"
    y = diff_augment(x, ALL, u)
    assert y.shape == x.shape and not torch.equal(y, x)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    cut = diff_augment(torch.ones(2, 1, 32, 32), ("cutout",), keyed_uniform(0, 0, ids[:2], 0, 7))
    zeros = (cut == 0).flatten(1).sum(1)
    assert all(0 < z <= 16 * 16 for z in zeros.tolist()), zeros
    shifted = diff_augment(torch.ones(2, 1, 32, 32), ("translation",), torch.full((2, 7), 0.0))
    assert shifted[:, :, :4].eq(0).all() and shifted[:, :, 4:, 4:].eq(1).all(), "shift by 1/8 fills with 0"


def test_cutout_draws_its_square_on_the_images_device():
    """On a GPU the mask must be built there: the meta device stands in for one (a CPU index grid
    compared with its positions is refused as on CUDA)."""
    x = torch.ones(2, 3, 32, 32, device="meta")
    assert diff_augment(x, ("color", "cutout"), keyed_uniform(0, 0, torch.arange(2), 0, 7)).device == x.device


def test_unknown_augmentation_and_bad_decay_are_refused():
    with pytest.raises(ConfigError, match="diff_augment"):
        replace(CFG, {"diff_augment": "color,flip"})
    with pytest.raises(ConfigError, match="ema"):
        replace(CFG, {"ema": 1.0})


def test_aids_train_resume_exactly_and_the_model_is_the_average(toy_data, tmp_path):
    cfg = replace(CFG, {"max_steps": 8, "checkpoint_every": 2, "sample_every": 1000, "ema": 0.9,
                        "diff_augment": ",".join(ALL)})
    train(toy_data, tmp_path / "full", MODEL, cfg, progress=False)
    train(toy_data, tmp_path / "cut", MODEL, cfg, progress=False, until_step=5)
    train(toy_data, tmp_path / "cut", MODEL, cfg, progress=False, resume=True)
    full, cut = latest_checkpoint(tmp_path / "full"), latest_checkpoint(tmp_path / "cut")
    for name in ("model/model.safetensors", AVERAGE_FILE):
        a, b = load_file(str(full / name)), load_file(str(cut / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    average = load_file(str(full / AVERAGE_FILE))
    raw = load_file(str(full / "model" / "model.safetensors"))
    saved = load_file(str(tmp_path / "full" / "model" / "model.safetensors"))
    gen = [k for k in average if k.startswith("generators.")]
    shown = [k for k in average if k.startswith(("generators.", "encoders."))]
    assert gen and all(torch.equal(saved[k], average[k]) for k in shown), "the saved model is the average"
    assert any(not torch.equal(average[k], raw[k]) for k in gen), "the average differs from the last step"
    assert all(torch.equal(saved[k], raw[k]) for k in raw if k.startswith("inference."))


def test_weight_average_is_the_debiased_mean_of_the_weights_passed_through():
    from artworkflow.data.toy import toy_spec
    from artworkflow.train.ema import WeightAverage
    from artworkflow.workflow import Workflow
    torch.manual_seed(0)
    wf = Workflow(toy_spec(3), MODEL)
    avg = WeightAverage(wf, 0.5)
    p = next(wf.generators.parameters())
    seen = []
    for value in (1.0, 3.0):
        with torch.no_grad():
            p.fill_(value)
        seen.append(value)
        avg.update(wf)
    # weights 0.5 and 0.25 on the last and first value, divided by 1 - 0.5^2 = 0.75: no initial weights
    want = (0.5 * 3.0 + 0.25 * 1.0) / 0.75
    assert torch.allclose(next(avg.generators.parameters()), torch.full_like(p, want))
    view = avg.workflow(wf)
    assert view.generators is avg.generators and view.inference is wf.inference and wf.generators is not avg.generators
