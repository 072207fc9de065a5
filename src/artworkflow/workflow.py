"""The workflow model: N-1 generation stages (G_i, E_i) and N-1 inference nets G^I_i, plus the
discriminators used in training. Stage indices are 0-based: generator i maps stage i to stage i+1,
inference net i maps stage i+1 back to stage i."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .config import ModelConfig, WorkflowSpec, model_config_from_dict, to_dict
from .data.layout import WORKFLOW_FILE
from .errors import ArtworkflowError, CheckpointError, ConfigError
from .files import cpu_state, fsync_dir, replace_dir
from .nn.discriminator import MultiScaleDiscriminator
from .nn.encoder import LatentEncoder
from .nn.generator import AdaINGenerator
from .nn.regularizer import LearnedRegularizer
from .nn.unet import UNet

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DISCRIMINATORS_FILE = "discriminators.safetensors"
FORMAT = "artworkflow-workflow"


class Workflow(nn.Module):
    def __init__(self, spec: WorkflowSpec, model: ModelConfig):
        super().__init__()
        self.spec, self.model_config = spec, model
        c, m = spec.channels, model
        pairs = list(zip(c[:-1], c[1:]))
        self.generators = nn.ModuleList(
            AdaINGenerator(a, b, m.width, m.nz, m.n_res, m.mlp_dim) for a, b in pairs)
        self.encoders = nn.ModuleList(LatentEncoder(b, m.nz, m.enc_width, m.enc_blocks, norm=m.enc_norm) for _, b in pairs)
        wide_bottleneck = m.resolution >> m.unet_levels > 1
        self.inference = nn.ModuleList(UNet(b, a, m.unet_width, m.unet_levels, bottleneck_norm=wide_bottleneck)
                                       for a, b in pairs)
        self.regularizers = nn.ModuleList(LearnedRegularizer(m.adain_dim) for _ in pairs)
        self.register_buffer("regularizer_steps", torch.zeros(len(pairs), dtype=torch.long))

    @property
    def n_stages(self) -> int:
        return self.spec.n_stages

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def stage_index(self, stage: int | str) -> int:
        """Resolve a stage name or 0-based index to a 0-based index."""
        if isinstance(stage, str):
            if stage in self.spec.names:
                return self.spec.names.index(stage)
            if stage.isdigit():
                stage = int(stage)
            else:
                raise ConfigError(f"unknown stage '{stage}'; stages are {', '.join(self.spec.names)}")
        if not 0 <= stage < self.n_stages:
            raise ConfigError(f"stage {stage} out of range 0..{self.n_stages - 1}; stages are "
                              f"{', '.join(self.spec.names)}")
        return stage

    def infer(self, final: torch.Tensor) -> list[torch.Tensor]:
        """Hallucinate every earlier stage from a finished artwork; returns stages 0..N-1."""
        stages = [final]
        for net in reversed(self.inference):
            stages.insert(0, net(stages[0]))
        return stages

    def encode(self, i: int, next_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the stage-i latent that explains the stage-(i+1) image."""
        return self.encoders[i](next_image)

    def artwork_latents(self, final: torch.Tensor, inferred: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """The latent (the encoder's mean) of every generation stage of a finished artwork: E_i of its
        inferred stage i + 1, of the artwork itself for the last stage. They regenerate the artwork's look
        stage by stage, so a stage's latent can be taken from one artwork to another. ``inferred``:
        ``infer(final)`` when already at hand."""
        inferred = self.infer(final) if inferred is None else inferred
        targets = [*inferred[1:-1], final]
        return [self.encode(i, target)[0] for i, target in enumerate(targets)]

    def adain_vector(self, i: int, z: torch.Tensor) -> torch.Tensor:
        return self.generators[i].adain_vector(z)

    def generate(self, x1: torch.Tensor, zs: list[torch.Tensor] | None = None,
                 adain: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Run the generation stages from the first-stage image, driven either by latents z or by
        AdaIN vectors (one per stage). Returns all N stages."""
        if (zs is None) == (adain is None):
            raise ValueError("pass exactly one of zs or adain")
        stages = [x1]
        for i, g in enumerate(self.generators):
            vec = adain[i] if adain is not None else g.adain_vector(zs[i])
            stages.append(g.decode(g.encode_content(stages[-1]), vec))
        return stages

    def random_z(self, batch: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        nz = self.model_config.nz
        return [torch.randn(batch, nz, generator=generator).to(self.device) for _ in self.generators]

    @torch.no_grad()
    def sample(self, x1: torch.Tensor, seed: int | None = None,
               generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Generate every later stage from x1 with random latents; same seed, same output."""
        if generator is None:
            generator = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
        return self.generate(x1, zs=self.random_z(x1.shape[0], generator))

    def config_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": 1, "workflow": self.spec.to_dict(),
                "model": to_dict(self.model_config)}

    def save_pretrained(self, directory: str | os.PathLike,
                        discriminators: "Discriminators | None" = None) -> Path:
        """Write config.json + safetensors weights into ``directory`` atomically (a temporary
        sibling folder is renamed into place, so an interrupted save never leaves half a model)."""
        directory = Path(directory)
        tmp = directory.with_name(directory.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        try:
            (tmp / CONFIG_FILE).write_text(json.dumps(self.config_dict(), indent=2))
            save_file(cpu_state(self), str(tmp / WEIGHTS_FILE))
            if discriminators is not None:
                save_file(cpu_state(discriminators), str(tmp / DISCRIMINATORS_FILE))
            fsync_dir(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # a full disk gets its space back
            raise
        replace_dir(tmp, directory)
        return directory

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> "Workflow":
        """Load a model folder, or a training run folder (its ``model/``). Never unpickles code."""
        directory = resolve_model_dir(path)
        spec, model = read_model_config(directory)
        wf = cls(spec, model)
        load_weights(wf, directory / WEIGHTS_FILE)
        return wf.to(map_location).eval()


class Discriminators(nn.Module):
    """Training-only critics: two per generation stage (encoded-z and random-z branches) and one
    conditional (input ⊕ output) per inference net."""

    def __init__(self, spec: WorkflowSpec, model: ModelConfig):
        super().__init__()
        c, m = spec.channels, model
        pairs = list(zip(c[:-1], c[1:]))
        mk = lambda ch: MultiScaleDiscriminator(ch, m.disc_width, m.disc_layers, m.disc_scales)  # noqa: E731
        self.encoded = nn.ModuleList(mk(b) for _, b in pairs)
        self.random = nn.ModuleList(mk(b) for _, b in pairs)
        self.inference = nn.ModuleList(mk(a + b) for a, b in pairs)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> "Discriminators":
        directory = resolve_model_dir(path)
        spec, model = read_model_config(directory)
        d = cls(spec, model)
        file = directory / DISCRIMINATORS_FILE
        if not file.is_file():
            raise CheckpointError(f"{file}: not found; this model was saved without discriminators "
                                  "(use the model folder of a training run)")
        load_weights(d, file)
        return d


def save_regularizer(workflow: Workflow, index: int, file: Path) -> Path:
    """Write generation stage ``index``'s regulariser (θ and its sample count) into ``file``, keeping
    everything else the file holds at that moment, so that regularisers of different stages trained at
    the same time into one model all survive. The read-modify-write is serialised by a lock on the
    folder; the write goes beside the file and is renamed over it, so a failed one keeps the old file."""
    ours = {f"regularizers.{index}.{k}": v for k, v in cpu_state(workflow.regularizers[index]).items()}
    with _folder_lock(file.parent):
        state = load_file(str(file))
        for key, value in ours.items():
            if key not in state or state[key].shape != value.shape:
                raise CheckpointError(f"{file}: changed into another model while the regulariser trained; "
                                      "nothing was written: train it again on this model")
            state[key] = value
        steps = state["regularizer_steps"].clone()
        steps[index] = workflow.regularizer_steps[index].cpu()
        state["regularizer_steps"] = steps
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        try:
            save_file(state, str(tmp))
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, file)
        finally:
            if tmp.exists():
                tmp.unlink()
    return file


@contextlib.contextmanager
def _folder_lock(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on a folder (POSIX ``flock``; where there is none, no lock)."""
    if fcntl is None:
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def refuse_bundled(directory: Path, option: str) -> None:
    """Refuse to write into a model that ships inside the installed package (the demo model): an
    upgrade would silently undo the change, and the next user of the installation would inherit it."""
    package = Path(__file__).resolve().parent
    if directory.resolve().is_relative_to(package):
        raise ConfigError(f"{directory}: is the model bundled with artworkflow, inside the installed package; "
                          f"copy it first (cp -r {directory} my-model) and pass {option} my-model")


def _stage_list(spec: WorkflowSpec) -> str:
    return " → ".join(f"{s.name} ({'grey' if s.channels == 1 else 'RGB'})" for s in spec.stages)


def check_same_workflow(data_spec: WorkflowSpec, data: str | os.PathLike, model_spec: WorkflowSpec,
                        model: str | os.PathLike) -> None:
    """Refuse data of another workflow than the model's, with both stage lists side by side."""
    if not data_spec.same_stages(model_spec):
        raise ConfigError(f"{data}: dataset stages {_stage_list(data_spec)} but model {model} has stages "
                          f"{_stage_list(model_spec)}; pass the dataset the model was trained on (its run.json "
                          "names it) or a model trained on this dataset")


def _newest_checkpoint_model(run: Path) -> Path | None:
    done = sorted(p / "model" for p in (run / "checkpoints").glob("step-*") if (p / "model" / CONFIG_FILE).is_file())
    return done[-1] if done else None


def resolve_model_dir(path: str | os.PathLike) -> Path:
    p = Path(path)
    for cand in (p, p / "model"):
        if (cand / CONFIG_FILE).is_file():
            return cand
    if not p.exists():
        raise CheckpointError(f"{p}: no such model folder; pass a run folder or a saved model folder")
    ckpt = _newest_checkpoint_model(p)
    if ckpt is not None:
        raise CheckpointError(f"{p}: this training run has not written model/ yet (it stopped before its end); "
                              f"continue it with `artworkflow train --out {p} --resume`, or use its latest "
                              f"checkpoint: --model {ckpt}")
    if (p / WORKFLOW_FILE).is_file():
        raise CheckpointError(f"{p}: is a dataset (it holds {WORKFLOW_FILE}), not a model; train one on it with "
                              f"`artworkflow train --data {p} --out runs/x` and pass the run folder runs/x "
                              "(or runs/x/model)")
    raise CheckpointError(f"{p}: no {CONFIG_FILE} here or in {p / 'model'}, so not a model; pass a run folder "
                          f"made by `artworkflow train` (e.g. runs/x) or its model/ folder, which holds {CONFIG_FILE} "
                          f"and {WEIGHTS_FILE}")


def read_model_config(directory: Path) -> tuple[WorkflowSpec, ModelConfig]:
    file = directory / CONFIG_FILE
    fix = "restore it from a backup or from the run's checkpoints/step-*/model folder"
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{file}: not readable JSON ({_one_line(e)}); {fix}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{file}: not an artworkflow model config (no \"format\": \"{FORMAT}\"); pass "
                              "a run folder or a folder written by save_pretrained")
    try:
        return WorkflowSpec.from_dict(data["workflow"]), model_config_from_dict(data["model"])
    except KeyError as e:
        raise CheckpointError(f"{file}: no {e} section; {fix}") from None
    except ArtworkflowError as e:
        raise CheckpointError(f"{file}: {e}; {fix}") from None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or err.__class__.__name__


def load_weights(module: nn.Module, file: Path) -> None:
    """Load safetensors weights strictly, turning every failure into one clear CheckpointError."""
    if not file.is_file():
        raise CheckpointError(f"{file}: weights file not found; restore it from a backup or from the run's "
                              "checkpoints/step-*/model folder")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{file}: corrupt or unreadable safetensors file ({_one_line(e)}); "
                              "restore it from a backup or retrain") from None
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shape = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or shape:
        detail = "; ".join(x for x in (
            f"missing {len(missing)} tensors (e.g. {missing[0]})" if missing else "",
            f"{len(extra)} unexpected (e.g. {extra[0]})" if extra else "",
            f"{len(shape)} with other shapes (e.g. {shape[0]})" if shape else "") if x)
        raise CheckpointError(f"{file}: weights do not fit this workflow ({detail}); they belong to another "
                              f"workflow or model size, so keep {file.name} with the {CONFIG_FILE} saved with it")
    broken = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise CheckpointError(f"{file}: {len(broken)} tensors hold NaN or infinite values (e.g. {broken[0]}), so "
                              "every image would come out blank; use the model of an earlier checkpoint "
                              "(checkpoints/step-*/model) or retrain")
    module.load_state_dict(state)
