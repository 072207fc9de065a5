"""The interactive web app (`artworkflow app`): create artwork stage by stage, or take finished
artwork apart and change one decision. ``state`` is plain Python; ``ui`` and ``launch`` need Gradio."""
from .state import CreatePath, EditState, default_model_path

__all__ = ["CreatePath", "EditState", "default_model_path"]
