"""artworkflow: model artistic workflows to create artwork stage by stage and edit it at any stage."""
import os

# Sleeping (not spinning) OpenMP workers: on a busy 2-core machine spinning threads made convolutions
# 10-30x slower. Only takes effect when artworkflow is imported before torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .config import ModelConfig, StageSpec, TrainConfig, WorkflowSpec
from .errors import ArtworkflowError

__version__ = "0.1.0"
__all__ = ["ArtworkflowError", "ModelConfig", "StageSpec", "TrainConfig", "WorkflowSpec", "__version__"]
