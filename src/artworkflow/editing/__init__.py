"""Editing existing artwork: AdaIN optimisation (paper §3.2), the learned regulariser and an edit
session over the stage images of one artwork."""
from .adain_opt import Reconstruction, optimize_latent_stage, optimize_stage, reconstruct
from .perceptual import default_perceptual, load_perceptual
from .regularizer import train_regularizer
from .session import EditSession

__all__ = ["EditSession", "Reconstruction", "default_perceptual", "load_perceptual", "optimize_latent_stage",
           "optimize_stage", "reconstruct", "train_regularizer"]
