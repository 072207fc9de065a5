"""Editing existing artwork: AdaIN optimisation (paper §3.2), the learned regulariser and an edit
session over the stage images of one artwork."""
from .adain_opt import optimize_stage
from .latent_opt import optimize_latent_stage
from .perceptual import default_perceptual, load_perceptual
from .reconstruct import Reconstruction, reconstruct
from .regularizer import train_regularizer
from .render import EditNetworks, edit_networks
from .session import EditSession

__all__ = ["EditNetworks", "EditSession", "Reconstruction", "default_perceptual", "edit_networks",
           "load_perceptual", "optimize_latent_stage", "optimize_stage", "reconstruct", "train_regularizer"]
