"""VGG16 perceptual features built without torchvision.

The module layout mirrors torchvision's ``vgg16().features`` so the standard ImageNet weights file
(``vgg16-397923af.pth``) loads by key, while the project never has to depend on torchvision.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ..errors import CheckpointError, WeightsNotFoundError

VGG16_FILENAME = "vgg16-397923af.pth"
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG16_ENV = "ARTWORKFLOW_VGG16"

DEFAULT_LAYERS: tuple[str, ...] = ("relu1_1", "relu1_2", "relu3_2", "relu4_2")
"""The layers of the perceptual term of L_Ada (paper eq. 6), the only place they are listed."""

_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> list[str]:
    """Names (conv3_2, relu3_2, pool3, ...) of the entries of torchvision's ``features`` list."""
    names: list[str] = []
    block, index = 1, 1
    for item in _CONFIG:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())
_LAYER_INDEX = {name: i for i, name in enumerate(LAYER_NAMES)}


def _layer_index(name: str) -> int:
    if name not in _LAYER_INDEX:
        raise ValueError(f"unknown VGG16 layer {name!r}; expected one of {', '.join(LAYER_NAMES)}")
    return _LAYER_INDEX[name]


class VGG16Features(nn.Module):
    """Frozen VGG16 convolutional trunk returning named intermediate activations.

    Only the layers up to the deepest one in ``layers`` are built, which saves memory and time for
    perceptual losses that stop at relu4_2. Parameters never receive gradients, but the input does,
    so the module can drive image or latent optimisation.
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_LAYERS) -> None:
        super().__init__()
        if not layers:
            raise ValueError("at least one VGG16 layer is required")
        self.layers = tuple(layers)
        depth = max(_layer_index(name) for name in self.layers) + 1
        modules: list[nn.Module] = []
        in_channels = 3
        for item in _CONFIG:
            if len(modules) >= depth:
                break
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules.append(nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1))
                modules.append(nn.ReLU())
                in_channels = int(item)
        self.features = nn.Sequential(*modules[:depth])
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @property
    def depth(self) -> int:
        """Number of entries of torchvision's ``features`` list that this module contains."""
        return len(self.features)

    def train(self, mode: bool = True) -> VGG16Features:
        """Stay in eval mode: the network is a fixed feature extractor."""
        return super().train(False)

    def normalize(self, x: Tensor) -> Tensor:
        """Map a [-1, 1] image with 1 or 3 channels to the ImageNet-normalised input VGG expects."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected a (B, 1|3, H, W) tensor, got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x + 1.0) * 0.5
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: Tensor, layers: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Return ``{layer_name: activation}`` for the requested layers (default: those built for)."""
        names = tuple(layers) if layers is not None else self.layers
        wanted = {_layer_index(name): name for name in names}
        deepest = max(wanted)
        if deepest >= self.depth:
            raise ValueError(
                f"layer {wanted[deepest]!r} is deeper than this VGG16Features was built for "
                f"({LAYER_NAMES[self.depth - 1]}); pass it in `layers` when constructing the module"
            )
        out: dict[str, Tensor] = {}
        h = self.normalize(x)
        for i, module in enumerate(self.features):
            h = module(h)
            if i in wanted:
                out[wanted[i]] = h
            if i == deepest:
                break
        return {name: out[name] for name in names}


class PerceptualLoss(nn.Module):
    """Sum over VGG16 layers of the mean absolute feature difference (the published form of the
    perceptual term of L_Ada: ℓ1 per layer, each a mean over that layer's elements, summed).

    ``features`` is exposed so a fixed target can be encoded once and reused across many
    optimisation steps; ``reduction="none"`` keeps one loss per sample so a batch of independent
    optimisation problems can share one forward pass.
    """

    def __init__(self, vgg: VGG16Features, layers: Sequence[str] | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        self.vgg = vgg
        self.layers = tuple(layers) if layers is not None else vgg.layers
        self.reduction = reduction

    def features(self, y: Tensor) -> dict[str, Tensor]:
        """VGG features of ``y`` for the loss layers; wrap in ``torch.no_grad()`` for fixed targets."""
        return self.vgg(y, self.layers)

    def forward(self, x: Tensor, y: Tensor | None = None,
                y_features: Mapping[str, Tensor] | None = None, reduction: str | None = None) -> Tensor:
        """Loss between ``x`` and a target given as an image ``y`` or precomputed ``y_features``.

        Target features with batch size 1 broadcast against every sample of ``x``. The distance is
        accumulated in float32 so the loss stays accurate under autocast; target features in the
        same memory format as ``x``'s avoid a strided pass per layer.
        """
        if (y is None) == (y_features is None):
            raise ValueError("pass exactly one of `y` or `y_features`")
        reduction = reduction or self.reduction
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        fx = self.features(x)
        fy = self.features(y) if y is not None else y_features
        per_sample = torch.zeros(x.shape[0], device=x.device)
        for name in self.layers:
            if name not in fy:
                raise KeyError(f"target features lack layer {name!r}")
            per_sample = per_sample + _mean_abs_distance(fx[name], fy[name].to(fx[name].dtype))
        return per_sample if reduction == "none" else per_sample.mean()


class _MeanAbsDistance(torch.autograd.Function):
    """Per-sample mean of ``|x - y|`` in float32 (float64 for float64): one pass over the difference
    forward (a 1-norm, accumulated in float32 by torch) and one backward, where the autograd of the
    plain formula makes more passes over every full-size feature map. float16 is summed in float32
    by torch's cascaded sum (its own sum could overflow, and a running float32 one drifts)."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor) -> Tensor:
        diff = x - y
        ctx.save_for_backward(diff)
        ctx.y_shape = y.shape
        dims = tuple(range(1, diff.dim()))
        if diff.dtype == torch.float16:
            norm = diff.abs().sum(dims, dtype=torch.float32)
        else:
            norm = torch.linalg.vector_norm(diff, ord=1, dim=dims)
        return norm.to(torch.promote_types(norm.dtype, torch.float32)) / diff[0].numel()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (diff,) = ctx.saved_tensors
        scale = (grad / diff[0].numel()).to(diff.dtype).view(-1, *(1,) * (diff.dim() - 1))
        gx = diff.sign().mul_(scale)
        gy = -gx.sum_to_size(ctx.y_shape) if ctx.needs_input_grad[1] else None
        return gx if ctx.needs_input_grad[0] else None, gy


def _mean_abs_distance(x: Tensor, y: Tensor) -> Tensor:
    return _MeanAbsDistance.apply(x, y)


def _describe_lookup(argument: str | None, env: str, hub_file: Path) -> str:
    env_value = os.environ.get(env)
    return (
        f"path argument: {argument if argument else '(not given)'}; "
        f"${env}: {env_value if env_value else '(not set)'}; "
        f"torch hub cache: {hub_file}"
    )


def resolve_weights_path(argument: str | os.PathLike | None, env: str, filename: str, url: str,
                         what: str) -> Path:
    """Find a third-party weights file: explicit path, then ``$env``, then the torch hub cache.

    The first source that is set is used; an explicit path or variable that points nowhere is an
    error rather than silently falling back, so a typo never evaluates with the wrong weights.
    """
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / filename
    env_value = os.environ.get(env)
    if argument:
        candidate, source = Path(argument), "the path argument"
    elif env_value:
        candidate, source = Path(env_value), f"${env}"
    else:
        candidate, source = hub_file, "the torch hub cache"
    if candidate.is_file():
        return candidate
    lookup = _describe_lookup(str(argument) if argument else None, env, hub_file)
    raise WeightsNotFoundError(
        f"{what} weights not found: {candidate} (from {source}) is not a file. Looked at, in order: "
        f"{lookup}. These weights cannot be downloaded automatically here; on a machine with internet "
        f"run: python -c \"import urllib.request; urllib.request.urlretrieve('{url}', '{filename}')\", "
        f"then copy {filename} to this machine and either set {env}=/path/to/{filename} or place it "
        f"at {hub_file}."
    )


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """Load a flat ``name -> tensor`` mapping from a .pth/.pt or .safetensors file. Torch files are read
    with ``weights_only=True``, so a file that needs code to load is refused instead of run."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the file cannot be used
        raise CheckpointError(f"{path}: cannot be read as plain tensors ({exc.__class__.__name__}; files that "
                              "need code to load are refused); download the weights file again") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a flat mapping of tensors; download the weights file again")
    return dict(state)


def load_matching(module: nn.Module, state: Mapping[str, Tensor], path: Path, what: str,
                  optional_suffixes: tuple[str, ...] = ()) -> None:
    """Copy ``state`` into ``module`` after checking that every key and shape matches.

    Keys in the file that the module does not have are ignored (e.g. VGG's classifier); keys the
    module needs that the file lacks, or shape mismatches, mean it is the wrong file.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(optional_suffixes)]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
             if k in state and state[k].shape != v.shape]
    if missing or wrong:
        details = []
        if missing:
            details.append(f"missing keys: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
        if wrong:
            details.append(f"shape mismatches: {'; '.join(wrong[:5])}" + (" ..." if len(wrong) > 5 else ""))
        raise CheckpointError(f"{path}: not {what} weights ({'; '.join(details)}); download the {what} weights "
                              "file again")
    module.load_state_dict({k: state[k] for k in own if k in state}, strict=False)


def load_vgg16(path: str | os.PathLike | None = None,
               layers: Sequence[str] = DEFAULT_LAYERS) -> VGG16Features:
    """Build a frozen :class:`VGG16Features` with the ImageNet weights from torchvision's file.

    Looks at ``path``, then ``$ARTWORKFLOW_VGG16``, then ``<torch hub dir>/checkpoints/``.
    """
    file = resolve_weights_path(path, VGG16_ENV, VGG16_FILENAME, VGG16_URL, "VGG16")
    model = VGG16Features(layers)
    load_matching(model, read_state_dict(file), file, "VGG16")
    return model
