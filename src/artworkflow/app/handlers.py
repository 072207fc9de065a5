"""Every event of the app as a plain function of the app's context, one tab's ``state.Session`` and
the values of the controls. The events are wired with Gradio's ``preprocess=False``: each gets the
values exactly as they were sent (a file's path, a drawing's file or bytes, a number) and nothing
has opened an image before ``state.check_upload`` reads its header. Each checks what it is given (a
value sent through the API can be anything), names the control a bad value was meant for, and
answers an error the user caused with the app's one-line message in the page; ``ui`` only lays
out the components and wires these to them."""
from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image
from torch import Tensor

from ..data.images import MAX_SIDE
from ..errors import ArtworkflowError, ConfigError
from ..nn.vgg import PerceptualLoss
from ..pipeline import WorkflowPipeline
from . import state as S

DRAW_SIZE = S.APP_MAX_SIZE
"""Side of the drawing canvases; stage images are enlarged to it with hard pixel edges."""


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors the user caused (bad upload, value out of range, wrong order of clicks) into a
    red message in the page instead of a generic failure; anything else is a bug and stays one."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ArtworkflowError as e:
            raise gr.Error(str(e), print_exception=False) from None

    return wrapper


@dataclass(frozen=True)
class AppContext:
    """What every event needs and no browser tab owns: the model, the upload limits, the
    reconstruction loss and the folder under which each tab gets its download folder."""

    pipeline: WorkflowPipeline
    downloads: Path
    limits: S.UploadLimits
    perceptual: PerceptualLoss | None
    loss_note: str

    @classmethod
    def create(cls, pipeline: WorkflowPipeline, output_dir: str | os.PathLike | None = None,
               max_side: int = MAX_SIDE, max_file_size: int | None = None,
               perceptual: PerceptualLoss | None | str = "auto", vgg_weights: str | os.PathLike | None = None,
               device: str = "cpu") -> AppContext:
        """Check the limits, make the download folder (a fresh temporary one if not given) and load
        the perceptual term ("auto": VGG16 when its weights are on this machine, otherwise ℓ1 with a note)."""
        limits = S.UploadLimits(max_side, max_file_size)
        root = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="artworkflow-app-"))
        root.mkdir(parents=True, exist_ok=True)
        if perceptual == "auto":
            perceptual, note = S.load_perceptual_or_note(vgg_weights, device)
        else:
            note = S.perceptual_note(perceptual, "(perceptual term switched off for this app)")
        return cls(pipeline, root, limits, perceptual, note)

    @property
    def names(self) -> list[str]:
        return self.pipeline.names

    @property
    def last(self) -> int:
        """Index of the final stage, the finished artwork."""
        return len(self.pipeline.names) - 1

    @property
    def chain(self) -> str:
        return " → ".join(f"**{n}**" for n in self.names)

    def new_session(self) -> functools.partial[S.Session]:
        """The initial value of a tab's state; a partial (not a bound method) so that Gradio's
        copy of it per tab copies a folder name, not the model."""
        return functools.partial(S.Session, self.downloads)

    def read(self, source: str | bytes, stage: int) -> Tensor:
        """An uploaded or drawn image for ``stage``, checked from its header before it is decoded."""
        channels = self.pipeline.workflow.spec.channels[stage]
        return S.read_upload(source, channels, self.limits.max_side, self.limits.max_bytes)


# ---------------------------------------------------------------- values the components exchange
Blobs = dict[str, Any]
"""An image editor's ``blob_storage``: the page sends a drawing's images there, keyed by an id that
the event's value then carries instead of files."""


def sent_image(value: Any, blobs: Blobs | None = None) -> str | bytes | None:
    """The one image an event uses from what a component sent, without opening it: a file's path
    (a file box, or an editor's file) or the bytes the page sent for a drawing. Of a drawing that
    is its composite, else its background; its layers are never read."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return None if value is None else str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, dict):
        raise ConfigError(f"expected an image file or a drawing, got {type(value).__name__}")
    if "path" in value:
        return sent_image(value["path"])
    stored = blobs.pop(value["id"], None) if blobs is not None and value.get("id") is not None else None
    if stored is not None:
        value = {"composite": stored.composite, "background": stored.background}
    return sent_image(value.get("composite") or value.get("background"))


def for_drawing(image: Tensor) -> Image.Image:
    """A stage image enlarged with hard pixel edges, so it can be drawn on at a comfortable size."""
    pil = S.display(image)
    factor = max(1, DRAW_SIZE // max(pil.size))
    return pil.resize((pil.width * factor, pil.height * factor), Image.NEAREST)


def canvas(image: Tensor) -> dict:
    """An image editor's value with ``image`` as the paper to draw on."""
    return {"background": for_drawing(image), "layers": [], "composite": None}


def history_markdown(history: list[str]) -> str:
    lines = [f"{i}. {label}" for i, label in enumerate(history, 1)]
    lines[-1] = f"{len(history)}. **{history[-1]} (current)**"
    return "\n".join(lines)


def _session(ctx: AppContext, session: S.Session | None) -> S.Session:
    return session if session is not None else ctx.new_session()()


def _k_and_seed(k: Any, seed: Any) -> tuple[int, int]:
    return (S.whole_number(k, S.VARIATIONS_LABEL, 1, S.MAX_VARIATIONS),
            S.whole_number(seed, S.SEED_LABEL, 0, S.MAX_SEED))


# ---------------------------------------------------------------- create
def create_view(ctx: AppContext, session: S.Session, seed: int) -> tuple:
    """Outputs of every Create event: session, status, variations, their picker, the path so far,
    downloads, seed and whether the artwork can go to the Edit tab."""
    path, names = session.create, ctx.names
    chosen = [(S.display(img), f"{s.name} · {s.origin}")
              for s, img in zip(path.steps, path.full_steps())]
    if path.done:
        status = f"Finished: every stage is chosen ({ctx.chain}). Download it, go *Back* a stage, or edit it."
    else:
        status = (f"Stage {path.next_stage + 1} of {len(names)}: pick a **{names[path.next_stage]}** "
                  "variation (click it), then press *Pick*; *Re-roll* for others.")
    stage = names[path.next_stage] if not path.done else ""
    variations = [(S.display(c), f"{i + 1} · {stage} · {origin}")
                  for i, (c, origin) in enumerate(zip(path.full_candidates(), path.candidate_origins))]
    choices = [(f"{i + 1} ({origin})", i) for i, origin in enumerate(path.candidate_origins)]
    downloads = path.export(session.folder).paths() if path.done else None
    return (session, status, variations, gr.Radio(choices=choices, value=0 if choices else None), chosen,
            downloads, seed, gr.Button(interactive=path.done))


def _create_path(ctx: AppContext, session: S.Session | None) -> S.CreatePath:
    if session is None or session.create is None:
        raise ConfigError(f"start with a {ctx.names[0]}: draw or upload one, then press Start")
    return session.create


@user_errors
def create_upload(ctx: AppContext, file: Any) -> dict:
    """Put an uploaded first-stage image on the canvas, once its header has passed the checks."""
    source = sent_image(file)
    if not source:
        return gr.skip()
    return canvas(S.at_app_size(ctx.read(source, 0)))


@user_errors
def create_start(ctx: AppContext, session: S.Session | None, sketch: Any, k: Any, seed: Any, *,
                 blobs: Blobs | None = None) -> tuple:
    k, seed = _k_and_seed(k, seed)
    source = sent_image(sketch, blobs)
    if not source:
        raise ConfigError(f"draw or upload a {ctx.names[0]} first")
    first = ctx.read(source, 0)
    if S.is_blank(first):
        raise ConfigError(f"the {ctx.names[0]} is empty: draw something on the canvas or upload an image")
    session = _session(ctx, session)
    session.create = S.CreatePath(ctx.pipeline, first)
    session.create.variations(k, seed)
    return create_view(ctx, session, seed)


@user_errors
def create_reroll(ctx: AppContext, session: S.Session | None, k: Any, seed: Any) -> tuple:
    k, seed = _k_and_seed(k, seed)
    path = _create_path(ctx, session)
    if path.done:
        raise ConfigError("every stage is chosen; go Back a stage to roll new variations of it")
    seed = S.whole_number(seed + k, S.SEED_LABEL, 0, S.MAX_SEED)
    path.variations(k, seed)
    return create_view(ctx, session, seed)


@user_errors
def create_pick(ctx: AppContext, session: S.Session | None, index: Any, k: Any, seed: Any) -> tuple:
    k, seed = _k_and_seed(k, seed)
    path = _create_path(ctx, session)
    if index is None:
        raise ConfigError("click one of the variations first")
    if not path.candidates:
        raise ConfigError("there are no variations to pick from; press Re-roll or go Back a stage")
    path.pick(S.one_of(index, S.PICK_LABEL, list(range(len(path.candidates)))))
    if not path.done:
        path.variations(k, seed)
    return create_view(ctx, session, seed)


@user_errors
def create_back(ctx: AppContext, session: S.Session | None, k: Any, seed: Any) -> tuple:
    k, seed = _k_and_seed(k, seed)
    path = _create_path(ctx, session)
    if not path.back():
        raise ConfigError(f"the {ctx.names[0]} is where the workflow starts; there is no stage before it")
    path.variations(k, seed)
    return create_view(ctx, session, seed)


@user_errors
def create_borrow(ctx: AppContext, session: S.Session | None, reference: Any, k: Any, seed: Any) -> tuple:
    """Roll the next stage's variations again, the first drawn with that stage of the reference artwork."""
    k, seed = _k_and_seed(k, seed)
    path = _create_path(ctx, session)
    if path.done:
        raise ConfigError("every stage is chosen; go Back a stage to borrow it from another artwork")
    source = sent_image(reference)
    if not source:
        raise ConfigError(f"upload a reference artwork ({ctx.names[-1]}) first")
    path.variations(k, seed, reference=ctx.read(source, ctx.last))
    return create_view(ctx, session, seed)


def select_variation(evt: gr.SelectData) -> int:
    return evt.index


@user_errors
def send_to_edit(ctx: AppContext, session: S.Session | None) -> tuple:
    """The finished artwork as the Edit tab's upload, and that tab shown."""
    path = _create_path(ctx, session)
    if not path.done:
        raise ConfigError("finish the artwork first")
    return str(path.export(session.folder).final), gr.Tabs(selected="edit")


# ---------------------------------------------------------------- edit
def _stage(ctx: AppContext, stage: Any) -> int:
    return ctx.names.index(S.one_of(stage, S.STAGE_LABEL, ctx.names))


def stage_drawing(ctx: AppContext, session: S.Session | None, stage: Any) -> dict | None:
    """The chosen stage of the edited artwork on the drawing canvas (nothing before a decomposition)."""
    if session is None or session.edit is None or stage not in ctx.names:
        return None
    return canvas(session.edit.full_stages[ctx.names.index(stage)])


def edit_view(ctx: AppContext, session: S.Session, stage: Any) -> tuple:
    """Outputs of every Edit event: session, summary, inferred and current stages, history,
    downloads and the chosen stage on the drawing canvas."""
    edit, names = session.edit, ctx.names
    summary = edit.summary() + "".join(f"\n\n⚠ {n}" for n in edit.notes)
    inferred = [(S.display(t), f"{n} (inferred)") for n, t in zip(names[:-1], edit.decomposed[:-1])]
    inferred.append((S.display(edit.decomposed[-1]), f"{names[-1]} (your upload)"))
    current = [(S.display(t), n) for n, t in zip(names, edit.full_stages)]
    return (session, summary, inferred, current, history_markdown(edit.history),
            edit.export(session.folder).paths(), stage_drawing(ctx, session, stage))


def _edit(session: S.Session | None) -> S.EditState:
    if session is None or session.edit is None:
        raise ConfigError("upload a finished artwork and press Decompose first")
    return session.edit


@user_errors
def edit_preview(ctx: AppContext, artwork: Any) -> Image.Image | None:
    """The uploaded artwork at the size the app works with it, once its header has passed the checks."""
    source = sent_image(artwork)
    if not source:
        return None
    return S.display(S.at_app_size(ctx.read(source, ctx.last)))


@user_errors
def edit_upload_stage(ctx: AppContext, file: Any, stage: Any) -> dict:
    """Put an uploaded image for the chosen stage on the drawing canvas, once its header has passed."""
    source = sent_image(file)
    if not source:
        return gr.skip()
    s = _stage(ctx, stage)
    return canvas(S.at_app_size(ctx.read(source, s)))


@user_errors
def edit_decompose(ctx: AppContext, session: S.Session | None, artwork: Any, mode: Any, steps: Any,
                   stage: Any, progress: gr.Progress = gr.Progress()) -> tuple:
    mode = S.one_of(mode, S.MODE_LABEL, list(S.EDIT_MODES))
    steps = S.whole_number(steps, S.STEPS_LABEL, 0, S.MAX_STEPS)
    source = sent_image(artwork)
    if not source:
        raise ConfigError(f"upload a finished artwork ({ctx.names[-1]}) first")
    image = ctx.read(source, ctx.last)
    progress(0.0, desc="inferring the earlier stages")
    session = _session(ctx, session)
    session.edit = S.EditState.from_artwork(ctx.pipeline, image, mode, steps, ctx.perceptual,
                                            progress=lambda frac, line: progress(frac, desc=line))
    for note in session.edit.notes:
        gr.Warning(note)
    return edit_view(ctx, session, stage)


@user_errors
def edit_resample(ctx: AppContext, session: S.Session | None, stage: Any, seed: Any) -> tuple:
    s = _stage(ctx, stage)
    seed = S.whole_number(seed, S.SEED_LABEL, 0, S.MAX_SEED)
    _edit(session).resample(s, seed)
    return edit_view(ctx, session, stage) + (min(seed + 1, S.MAX_SEED),)


@user_errors
def edit_redraw(ctx: AppContext, session: S.Session | None, stage: Any, drawing: Any, *,
                blobs: Blobs | None = None) -> tuple:
    s = _stage(ctx, stage)
    edit = _edit(session)
    source = sent_image(drawing, blobs)
    if not source:
        raise ConfigError(f"draw on the {stage} image first")
    edit.redraw(s, ctx.read(source, s))
    return edit_view(ctx, session, stage)


@user_errors
def edit_borrow(ctx: AppContext, session: S.Session | None, stage: Any, reference: Any) -> tuple:
    """Give the chosen stage the look of that stage of another artwork; the later stages follow."""
    s = _stage(ctx, stage)
    edit = _edit(session)
    source = sent_image(reference)
    if not source:
        raise ConfigError(f"upload the artwork ({ctx.names[-1]}) to take the {stage} from first")
    edit.borrow(s, ctx.read(source, ctx.last))
    return edit_view(ctx, session, stage)


@user_errors
def edit_undo(ctx: AppContext, session: S.Session | None, stage: Any) -> tuple:
    _stage(ctx, stage)
    if not _edit(session).undo():
        gr.Info("nothing to undo: this is the reconstruction")
    return edit_view(ctx, session, stage)
