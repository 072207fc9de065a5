import pytest

from artworkflow.config import StageSpec, WorkflowSpec, preset
from artworkflow.workflow import Workflow


@pytest.fixture
def workflow() -> Workflow:
    """An untrained tiny 3-stage workflow (PyTorch's initialisation: its latents move its outputs)."""
    import torch
    torch.manual_seed(0)
    spec = WorkflowSpec("t", (StageSpec("sketch", 1), StageSpec("flat", 3), StageSpec("shaded", 3)))
    return Workflow(spec, preset("tiny")[0])
