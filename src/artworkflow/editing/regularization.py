"""The weight decay w of Algorithm 1, line 6, for each generation stage: none, a fixed value, the
stage's learned regulariser, or "auto" (the default edit: learned where trained, else none); and the
one report of a learned regulariser that was never trained."""
from __future__ import annotations

import warnings

import torch
from torch import Tensor

from ..errors import ConfigError
from ..workflow import Workflow


class UntrainedRegularizerWarning(UserWarning):
    """Learned regularisation of a stage whose regulariser was never trained."""


def _train_hint(model: str, stage: str) -> str:
    return f"`artworkflow train-regularizer --model {model} --stage {stage}`"


def untrained_note(workflow: Workflow, model: str = "MODEL") -> str | None:
    """The report of the stages whose learned regulariser was never trained, or None if all were."""
    names = workflow.spec.names
    untrained = [names[i + 1] for i in range(workflow.n_stages - 1) if int(workflow.regularizer_steps[i]) == 0]
    if not untrained:
        return None
    return (f"the regulariser of {', '.join(untrained)} is untrained (its initial weights act like a weight decay "
            f"of about 1e-3); train it with {_train_hint(model, untrained[0])}")


def stage_choices(workflow: Workflow, regularization: str | float, method: str = "adain") -> list[str | float]:
    """The regularization of each generation stage, with "auto" decided: the paper's learned
    regularisation for a stage whose regulariser was trained, w = 0 (``"none"``) for one that was not
    (its initial weights only imitate a weight decay) and for every stage of method "z", which has no
    learned regulariser. The one place that decides what the default edit is."""
    n_gen = workflow.n_stages - 1
    if regularization != "auto":
        return [regularization] * n_gen
    if method != "adain":
        return ["none"] * n_gen
    return ["learned" if int(steps) > 0 else "none" for steps in workflow.regularizer_steps]


def auto_summary(workflow: Workflow, method: str = "adain") -> str:
    """What "auto" chose, in a few words, e.g. "learned regularisation for flat; w = 0 for shaded"."""
    if method != "adain":
        return f"w = 0 (the learned regulariser serves AdaIN optimisation, not method {method})"
    pairs = list(zip(workflow.spec.names[1:], stage_choices(workflow, "auto", method)))
    groups = {"learned regularisation": [name for name, choice in pairs if choice == "learned"],
              "w = 0": [name for name, choice in pairs if choice != "learned"]}
    return "; ".join(f"{how} for {', '.join(names)}" for how, names in groups.items() if names)


def _auto_note(workflow: Workflow, method: str, model: str) -> str:
    note = f"regularization auto: {auto_summary(workflow, method)}"
    choices = stage_choices(workflow, "auto", method)
    if method == "adain" and "none" in choices:
        stage = workflow.spec.names[1 + choices.index("none")]
        note += f" (regulariser untrained; train it with {_train_hint(model, stage)})"
    return note


def regularization_note(workflow: Workflow, regularization: str | float, method: str = "adain",
                        model: str = "MODEL") -> str | None:
    """The one line to tell the user about the regularisation of an edit: what "auto" chose, or that a
    learned regulariser asked for was never trained; None when there is nothing to tell (method
    "none" optimises nothing)."""
    if method == "none":
        return None
    if regularization == "auto":
        return _auto_note(workflow, method, model)
    return untrained_note(workflow, model) if regularization == "learned" else None


def stage_weights(workflow: Workflow, regularization: str | float,
                  method: str = "adain") -> list[Tensor | float | None]:
    """w of every generation stage (``stage_choices`` resolved); an edit that asked for a learned
    regulariser, or for "auto", and met an untrained one issues ``regularization_note`` as an
    ``UntrainedRegularizerWarning`` (the CLI prints it as a note, the app shows it beside the
    reconstruction)."""
    if method == "adain" and regularization in ("learned", "auto") and untrained_note(workflow) is not None:
        warnings.warn(regularization_note(workflow, regularization, method), UntrainedRegularizerWarning,
                      stacklevel=3)
    return [resolve_regularization(workflow, choice, i)
            for i, choice in enumerate(stage_choices(workflow, regularization, method))]


def resolve_regularization(workflow: Workflow, regularization: str | float, i: int) -> Tensor | float | None:
    """w for generation stage ``i``: None, a fixed float, or the stage's learned regulariser."""
    if isinstance(regularization, (int, float)) and not isinstance(regularization, bool):
        if regularization < 0:
            raise ConfigError(f"weight decay must be >= 0, got {regularization}")
        return float(regularization)
    if regularization == "none":
        return None
    if regularization == "learned":
        with torch.no_grad():
            return workflow.regularizers[i]().detach()
    try:
        return resolve_regularization(workflow, float(regularization), i)
    except (TypeError, ValueError):
        raise ConfigError(f"regularization must be 'auto', 'none', 'learned' or a weight decay like 1e-3, "
                          f"got {regularization!r}") from None
