"""Exception types. Every error a user can cause derives from ``ArtworkflowError`` so the CLI can
print one clear line instead of a traceback."""


class ArtworkflowError(Exception):
    """Base class for errors caused by input, files or options rather than by a bug."""


class DatasetError(ArtworkflowError):
    """A dataset folder is missing files, has unreadable images or an invalid workflow.yaml."""


class ImageError(DatasetError):
    """One image file cannot be read or has the wrong size or mode."""


class ConfigError(ArtworkflowError):
    """A config file or option has an invalid value."""


class CheckpointError(ArtworkflowError):
    """A model or checkpoint folder is missing, corrupt, or belongs to another workflow."""


class WeightsNotFoundError(ArtworkflowError):
    """Pretrained third-party weights (VGG16, Inception-v3) are not available locally."""


class TrainingDivergedError(ArtworkflowError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class OutputError(ArtworkflowError):
    """An output cannot be written (a file in the way, no permission, a full disk), or writing it
    would replace a file the command did not write itself."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, raised once the checkpoint and the model of the last finished step are
    written; the message says where they are and how to continue."""
