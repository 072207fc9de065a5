"""The weight decay w of Algorithm 1, line 6, for each generation stage: none, a fixed value, or
the stage's learned regulariser; and the one report of a learned regulariser that was never trained."""
from __future__ import annotations

import warnings

import torch
from torch import Tensor

from ..errors import ConfigError
from ..workflow import Workflow


class UntrainedRegularizerWarning(UserWarning):
    """Learned regularisation of a stage whose regulariser was never trained."""


def untrained_note(workflow: Workflow, model: str = "MODEL") -> str | None:
    """The report of the stages whose learned regulariser was never trained, or None if all were."""
    names = workflow.spec.names
    untrained = [names[i + 1] for i in range(workflow.n_stages - 1) if int(workflow.regularizer_steps[i]) == 0]
    if not untrained:
        return None
    return (f"the regulariser of {', '.join(untrained)} is untrained (its initial weights act like a weight decay "
            f"of about 1e-3); train it with `artworkflow train-regularizer --model {model} --stage {untrained[0]}`")


def warn_if_untrained(workflow: Workflow, stacklevel: int = 2) -> None:
    """Issue ``untrained_note`` as an ``UntrainedRegularizerWarning`` (the CLI prints it as a note, the
    app shows it beside the reconstruction)."""
    note = untrained_note(workflow)
    if note is not None:
        warnings.warn(note, UntrainedRegularizerWarning, stacklevel=stacklevel + 1)


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
        raise ConfigError(f"regularization must be 'none', 'learned' or a weight decay like 1e-3, "
                          f"got {regularization!r}") from None
