"""regularization="auto", the default edit: the learned regulariser of every stage whose regulariser
was trained, w = 0 for the others, decided in one place and said in one line."""
import warnings

import pytest
import torch

from artworkflow.data.images import load_image
from artworkflow.data.sample import DEMO_MODEL, bundled_sample_path
from artworkflow.editing.regularization import (UntrainedRegularizerWarning, auto_summary, regularization_note,
                                                stage_choices, stage_weights)
from artworkflow.editing.session import EditSession
from artworkflow.workflow import Workflow


def same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def demo() -> Workflow:
    """The bundled model, whose regularisers are trained (tests/core/test_demo.py checks that)."""
    return Workflow.from_pretrained(DEMO_MODEL)


def test_auto_is_learned_for_the_bundled_model_and_says_so(demo):
    assert all(int(n) > 0 for n in demo.regularizer_steps)
    assert stage_choices(demo, "auto") == ["learned", "learned"]
    note = regularization_note(demo, "auto", "adain", "M")
    assert note == "regularization auto: learned regularisation for flat, shaded"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedRegularizerWarning)
        auto = stage_weights(demo, "auto")
    learned = stage_weights(demo, "learned")
    assert all(torch.equal(a, b) and a.abs().sum() > 0 for a, b in zip(auto, learned))


def test_an_edit_session_defaults_to_the_learned_regularisation(demo):
    art = load_image(sorted((bundled_sample_path() / "test" / "shaded").glob("*.png"))[0], 3)
    fit = {"default": EditSession.from_artwork(demo, art, steps=2, amp="none")}
    for reg in ("learned", "none"):
        fit[reg] = EditSession.from_artwork(demo, art, steps=2, amp="none", regularization=reg)
    assert fit["default"].reconstruction.regularization == "auto"
    assert same(fit["default"].adain, fit["learned"].adain)
    assert not same(fit["default"].adain, fit["none"].adain)


def test_auto_is_w_0_for_untrained_regularisers_with_one_warning(workflow, artwork):
    assert stage_choices(workflow, "auto") == ["none", "none"]
    with pytest.warns(UntrainedRegularizerWarning) as caught:
        auto = EditSession.from_artwork(workflow, artwork[0], steps=2, amp="none")
    assert len(caught) == 1
    assert str(caught[0].message) == ("regularization auto: w = 0 for flat, shaded (regulariser untrained; train it "
                                      "with `artworkflow train-regularizer --model MODEL --stage flat`)")
    plain = EditSession.from_artwork(workflow, artwork[0], steps=2, amp="none", regularization="none")
    assert same(auto.adain, plain.adain)


def test_auto_decides_each_stage_and_method_z_has_no_learned_regulariser(tiny_run):
    wf = Workflow.from_pretrained(tiny_run)
    wf.regularizer_steps[0] += 1
    assert stage_choices(wf, "auto") == ["learned", "none"]
    assert auto_summary(wf) == "learned regularisation for flat; w = 0 for shaded"
    assert "--stage shaded`" in regularization_note(wf, "auto", "adain", "runs/x")
    assert stage_choices(wf, "auto", "z") == ["none", "none"]
    assert regularization_note(wf, "auto", "z") == ("regularization auto: w = 0 (the learned regulariser serves AdaIN "
                                                    "optimisation, not method z)")
    assert stage_choices(wf, 1e-3, "adain") == [1e-3, 1e-3] and stage_choices(wf, "learned") == ["learned"] * 2
    assert regularization_note(wf, "auto", "none") is None and regularization_note(wf, "none") is None
