"""artworkflow: model artistic workflows to create artwork stage by stage and edit it at any stage."""
from .config import ModelConfig, StageSpec, TrainConfig, WorkflowSpec
from .errors import ArtworkflowError

__version__ = "0.1.0"
__all__ = ["ArtworkflowError", "ModelConfig", "StageSpec", "TrainConfig", "WorkflowSpec", "__version__"]
