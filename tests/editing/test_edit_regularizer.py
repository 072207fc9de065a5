import shutil

import pytest
import torch

from artworkflow.data.dataset import StageDataset
from artworkflow.editing.reconstruct import reconstruct
from artworkflow.editing.regularizer import generation_index, train_regularizer
from artworkflow.errors import ConfigError
from artworkflow.workflow import Discriminators, Workflow


@pytest.fixture(scope="module")
def trained(tiny_run, toy_data, tmp_path_factory):
    """A copy of the tiny run whose last-stage regulariser took two training samples."""
    run = tmp_path_factory.mktemp("reg") / "run"
    shutil.copytree(tiny_run / "model", run / "model")
    wf = Workflow.from_pretrained(run)
    disc = Discriminators.from_pretrained(run)
    ds = StageDataset(toy_data, "train", resolution=64, train=False)
    theta0 = wf.regularizers[-1].theta.detach().clone()
    d0 = {k: v.clone() for k, v in disc.state_dict().items()}
    report = train_regularizer(wf, disc, ds, wf.spec.names[-1], samples=2, inner_steps=3, lr=1e-2, progress=False)
    return run, wf, disc, theta0, d0, report


def test_training_changes_theta_with_finite_nonzero_gradients(trained):
    _, wf, _, theta0, _, report = trained
    reg = wf.regularizers[-1]
    assert reg.theta.grad is not None
    assert torch.isfinite(reg.theta.grad).all() and reg.theta.grad.abs().sum() > 0
    assert not torch.equal(reg.theta.detach(), theta0)
    assert torch.equal(wf.regularizers[0].theta.detach(), torch.full_like(theta0, 0.1)), "other stages untouched"
    assert int(wf.regularizer_steps[-1]) == 2 and int(wf.regularizer_steps[0]) == 0
    assert report["regularizer_steps"] == 2 and report["w_min"] >= 0


def test_generator_and_discriminator_are_left_as_they_were(trained, tiny_run):
    _, wf, disc, _, d0, _ = trained
    original = Workflow.from_pretrained(tiny_run)
    for (k, a), b in zip(wf.generators.state_dict().items(), original.generators.state_dict().values()):
        assert torch.equal(a, b), k
    assert all(torch.equal(v, d0[k]) for k, v in disc.state_dict().items())
    assert all(p.requires_grad for p in wf.generators.parameters())


def test_save_and_load_bring_back_the_regulariser(trained, artwork, tmp_path):
    _, wf, disc, _, _, _ = trained
    wf.save_pretrained(tmp_path / "model", discriminators=disc)
    back = Workflow.from_pretrained(tmp_path / "model")
    assert torch.equal(back.regularizers[-1].theta, wf.regularizers[-1].theta)
    assert torch.equal(back.regularizer_steps, wf.regularizer_steps)
    assert (tmp_path / "model" / "discriminators.safetensors").is_file()
    with pytest.warns(UserWarning, match="untrained"):
        rec = reconstruct(back, artwork, regularization="learned", steps=2)
    assert torch.isfinite(torch.tensor(rec.l1_after))


def test_stage_arguments_name_image_stages(workflow):
    assert generation_index(workflow, workflow.spec.names[1]) == 0
    assert generation_index(workflow, 2) == 1
    with pytest.raises(ConfigError):
        generation_index(workflow, 0)


def test_critic_is_the_encoded_branch_restored_every_sample_and_others_drawn_every_step(
        tiny_run, toy_data, monkeypatch):
    import artworkflow.editing.regularizer as R

    wf = Workflow.from_pretrained(tiny_run)
    disc = Discriminators.from_pretrained(tiny_run)
    ds = StageDataset(toy_data, "train", resolution=64, train=False)
    i = len(wf.generators) - 1
    trained_enc = {k: v.clone() for k, v in disc.encoded[i].state_dict().items()}
    assert any(not torch.equal(v, disc.random[i].state_dict()[k]) for k, v in trained_enc.items())
    seen = []
    real_one_sample = R._one_sample

    def spy(g, enc, reg, critic, opt, opt_d, x, target, draw_other, inner_steps, *rest):
        assert all(a is b for a, b in zip(critic.parameters(), disc.encoded[i].parameters())), \
            "the critic must be the encoded-branch discriminator (its accelerated twin: the very weights)"
        at_start = all(torch.equal(v, trained_enc[k]) for k, v in critic.state_dict().items())
        drawn = []

        def counting_draw():
            drawn.append(draw_other())
            return drawn[-1]

        out = real_one_sample(g, enc, reg, critic, opt, opt_d, x, target, counting_draw, inner_steps, *rest)
        tuned = any(not torch.equal(v, trained_enc[k]) for k, v in critic.state_dict().items())
        seen.append((at_start, tuned, len(drawn), len({float(o[0].sum()) for o in drawn})))
        return out

    monkeypatch.setattr(R, "_one_sample", spy)
    train_regularizer(wf, disc, ds, wf.spec.names[-1], samples=3, inner_steps=4, lr=1e-2, progress=False)
    assert [s[0] for s in seen] == [True, True, True], "restored to the trained weights at every sample"
    assert all(s[1] for s in seen), "fine-tuned during each sample"
    assert all(s[2] == 4 for s in seen), "one other input per inner step"
    assert any(s[3] > 1 for s in seen), "the other inputs differ between inner steps"
    assert all(torch.equal(v, trained_enc[k]) for k, v in disc.encoded[i].state_dict().items())


def test_saves_every_n_samples_but_leaves_the_last_save_to_the_caller(tiny_run, toy_data):
    wf = Workflow.from_pretrained(tiny_run)
    disc = Discriminators.from_pretrained(tiny_run)
    ds = StageDataset(toy_data, "train", resolution=64, train=False)
    saved: list[tuple[int, torch.Tensor]] = []
    reg = wf.regularizers[-1]
    train_regularizer(wf, disc, ds, wf.spec.names[-1], samples=5, inner_steps=2, lr=1e-2, progress=False,
                      save=lambda: saved.append((int(wf.regularizer_steps[-1]), reg.theta.detach().clone())),
                      save_every=2)
    assert [n for n, _ in saved] == [2, 4]
    assert not torch.equal(saved[0][1], saved[1][1]), "each save sees the regulariser as trained so far"
    with pytest.raises(ConfigError, match="save_every"):
        train_regularizer(wf, disc, ds, 1, samples=1, inner_steps=2, progress=False, save_every=0)
