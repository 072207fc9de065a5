"""The Gradio interface. Both tabs are built from the loaded model's workflow (its stage names and
count), so one layout serves 3- and 4-stage models alike. Every event is a thin wrapper around
``app.state``; user data lives in per-session ``gr.State`` only, and all model work shares one
queue slot so a small machine is never asked to run two optimisations at once."""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from ..data.images import MAX_SIDE
from ..errors import ArtworkflowError, ConfigError
from ..nn.vgg import PerceptualLoss
from ..pipeline import WorkflowPipeline
from . import state as S

MODEL_WORK = "model-work"
"""Concurrency group of every event that runs the networks."""

STATE_TTL_S = 2 * 3600
DRAW_SIZE = 512
GALLERY_HEIGHT = 280

APP_CSS = """
.pixelated img { image-rendering: pixelated; }
#edit-input img { width: 100%; height: 100%; object-fit: contain; }
#aw-header h1 { margin-bottom: 0; }
"""
"""Stage images are small (the model's resolution); show them blocky rather than blurred."""


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors the user caused (bad upload, wrong order of clicks) into a red message in the page
    instead of a generic failure; anything else is a bug and stays one."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ArtworkflowError as e:
            raise gr.Error(str(e), print_exception=False) from None

    return wrapper


def _session_folder(root: Path, request: gr.Request | None) -> Path:
    """This browser session's download folder. The session id comes from the client, so only its
    hash is used as a folder name."""
    key = request.session_hash if request is not None and request.session_hash else "anonymous"
    folder = root / hashlib.sha256(key.encode()).hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _editor_path(value: dict | str | None) -> str | None:
    """The image an editor or image component hands over: the composite of a drawing, or a file."""
    if value is None or isinstance(value, str):
        return value
    if value.get("composite"):
        return value["composite"]
    return value.get("background")


def _for_drawing(image: Any) -> Image.Image:
    """A stage image enlarged with hard pixel edges, so it can be drawn on at a comfortable size."""
    pil = S.display(image)
    factor = max(1, DRAW_SIZE // max(pil.size))
    return pil.resize((pil.width * factor, pil.height * factor), Image.NEAREST)


def _brush(channels: int) -> gr.Brush:
    if channels == 1:
        return gr.Brush(default_size=8, colors=["#000000", "#555555", "#aaaaaa", "#ffffff"],
                        default_color="#000000", color_mode="defaults")
    return gr.Brush(default_size=8, default_color="#000000")


def _history_markdown(history: list[str]) -> str:
    lines = [f"{i}. {label}" for i, label in enumerate(history, 1)]
    lines[-1] = f"{len(history)}. **{history[-1]} (current)**"
    return "\n".join(lines)


def build_app(pipeline: WorkflowPipeline | str | os.PathLike, *, output_dir: str | os.PathLike | None = None,
              device: str = "cpu", vgg_weights: str | os.PathLike | None = None,
              perceptual: PerceptualLoss | None | str = "auto", concurrency: int = 1,
              max_side: int = MAX_SIDE, examples: bool = True, title: str = "artworkflow") -> gr.Blocks:
    """The app for one model (a pipeline, or a run or model folder). Downloads are written under
    ``output_dir`` (a fresh temporary folder if not given; serve that folder only). ``perceptual``
    "auto" uses VGG16 when its weights are on this machine and says so in the Edit tab otherwise."""
    if not isinstance(pipeline, WorkflowPipeline):
        pipeline = WorkflowPipeline.from_pretrained(pipeline, device=device)
    if concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    out_root = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="artworkflow-app-"))
    out_root.mkdir(parents=True, exist_ok=True)
    if perceptual == "auto":
        perceptual, loss_note = S.load_perceptual_or_note(vgg_weights, device)
    else:
        loss_note = S.perceptual_note(perceptual, "(perceptual term switched off for this app)")
    names = pipeline.names
    channels = pipeline.workflow.spec.channels
    res = pipeline.resolution
    first_examples, final_examples = S.bundled_examples(names) if examples else ([], [])
    chain = " → ".join(f"**{n}**" for n in names)

    # ------------------------------------------------------------ create: views and events
    def create_view(path: S.CreatePath, seed: int, folder: Path) -> tuple:
        chosen = [(S.display(s.image), f"{s.name} · " + ("yours" if s.seed is None else f"seed {s.seed}"))
                  for s in path.steps]
        if path.done:
            status = f"Finished: every stage is chosen ({chain}). Download it, go *Back* a stage, or edit it."
        else:
            status = (f"Stage {path.next_stage + 1} of {len(names)}: pick a **{names[path.next_stage]}** "
                      "variation (click it), then press *Pick*; *Re-roll* for others.")
        variations = [(S.display(c), f"{i + 1} · seed {sd}")
                      for i, (c, sd) in enumerate(zip(path.candidates, path.candidate_seeds))]
        choices = [(f"{i + 1} (seed {sd})", i) for i, sd in enumerate(path.candidate_seeds)]
        downloads = path.export(folder).paths() if path.done else None
        return (path, status, variations, gr.Radio(choices=choices, value=0 if choices else None), chosen,
                downloads, seed, gr.Button(interactive=path.done))

    def _path_or_error(path: S.CreatePath | None) -> S.CreatePath:
        if path is None:
            raise ConfigError(f"start with a {names[0]}: draw or upload one, then press Start")
        return path

    @_user_errors
    def create_start(sketch: dict | str | None, k: int, seed: int, request: gr.Request) -> tuple:
        source = _editor_path(sketch)
        if not source:
            raise ConfigError(f"draw or upload a {names[0]} first")
        first = S.read_upload(source, channels[0], max_side)
        if S.is_blank(first):
            raise ConfigError(f"the {names[0]} is empty: draw something on the canvas or upload an image")
        path = S.CreatePath(pipeline, first)
        path.variations(k, seed)
        return create_view(path, seed, _session_folder(out_root, request))

    @_user_errors
    def create_reroll(k: int, seed: int, path: S.CreatePath | None, request: gr.Request) -> tuple:
        path = _path_or_error(path)
        if path.done:
            raise ConfigError("every stage is chosen; go Back a stage to roll new variations of it")
        seed = int(seed) + int(k)
        path.variations(k, seed)
        return create_view(path, seed, _session_folder(out_root, request))

    @_user_errors
    def create_pick(index: int | None, k: int, seed: int, path: S.CreatePath | None, request: gr.Request) -> tuple:
        path = _path_or_error(path)
        if index is None:
            raise ConfigError("click one of the variations first")
        path.pick(index)
        if not path.done:
            path.variations(k, seed)
        return create_view(path, seed, _session_folder(out_root, request))

    @_user_errors
    def create_back(k: int, seed: int, path: S.CreatePath | None, request: gr.Request) -> tuple:
        path = _path_or_error(path)
        if not path.back():
            raise ConfigError(f"the {names[0]} is where the workflow starts; there is no stage before it")
        path.variations(k, seed)
        return create_view(path, seed, _session_folder(out_root, request))

    def select_variation(evt: gr.SelectData) -> int:
        return evt.index

    def send_to_edit(path: S.CreatePath | None, request: gr.Request) -> tuple:
        if path is None or not path.done:
            raise gr.Error("finish the artwork first")
        return str(path.export(_session_folder(out_root, request)).final), gr.Tabs(selected="edit")

    # ------------------------------------------------------------ edit: views and events
    def stage_drawing(stage: str | None, edit: S.EditState | None) -> dict | None:
        if edit is None or stage not in names:
            return None
        return {"background": _for_drawing(edit.stages[names.index(stage)]), "layers": [], "composite": None}

    def edit_view(edit: S.EditState, stage: str | None, folder: Path) -> tuple:
        summary = edit.summary() + "".join(f"\n\n⚠ {n}" for n in edit.notes)
        inferred = [(S.display(t), f"{n} (inferred)") for n, t in zip(names[:-1], edit.inferred[:-1])]
        inferred.append((S.display(edit.inferred[-1]), f"{names[-1]} (your upload)"))
        current = [(S.display(t), n) for n, t in zip(names, edit.stages)]
        return (edit, summary, inferred, current, _history_markdown(edit.history), edit.export(folder).paths(),
                stage_drawing(stage, edit))

    def _edit_or_error(edit: S.EditState | None) -> S.EditState:
        if edit is None:
            raise ConfigError("upload a finished artwork and press Decompose first")
        return edit

    @_user_errors
    def edit_decompose(artwork: str | None, mode: str, steps: int, stage: str, request: gr.Request,
                       progress: gr.Progress = gr.Progress()) -> tuple:
        if not artwork:
            raise ConfigError(f"upload a finished artwork ({names[-1]}) first")
        image = S.read_upload(artwork, channels[-1], max_side)
        progress(0.0, desc="inferring the earlier stages")
        edit = S.EditState.from_artwork(pipeline, image, mode, steps, perceptual,
                                        progress=lambda frac, line: progress(frac, desc=line))
        for note in edit.notes:
            gr.Warning(note)
        return edit_view(edit, stage, _session_folder(out_root, request))

    @_user_errors
    def edit_resample(stage: str, seed: int, edit: S.EditState | None, request: gr.Request) -> tuple:
        edit = _edit_or_error(edit)
        edit.resample(stage, seed)
        return edit_view(edit, stage, _session_folder(out_root, request)) + (int(seed) + 1,)

    @_user_errors
    def edit_redraw(stage: str, drawing: dict | None, edit: S.EditState | None, request: gr.Request) -> tuple:
        edit = _edit_or_error(edit)
        source = _editor_path(drawing)
        if not source:
            raise ConfigError(f"draw on the {stage} image first")
        if stage not in names:
            raise ConfigError(f"pick one of the stages {', '.join(names)}")
        s = names.index(stage)
        edit.redraw(s, S.read_upload(source, channels[s], max_side))
        return edit_view(edit, stage, _session_folder(out_root, request))

    @_user_errors
    def edit_undo(stage: str, edit: S.EditState | None, request: gr.Request) -> tuple:
        edit = _edit_or_error(edit)
        if not edit.undo():
            gr.Info("nothing to undo: this is the reconstruction")
        return edit_view(edit, stage, _session_folder(out_root, request))

    # ------------------------------------------------------------ layout
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, STATE_TTL_S)) as demo:
        gr.Markdown(f"# {title}\nA workflow of {len(names)} stages: {chain} ({res}×{res} px). "
                    "**Create** artwork by following the stages, or **Edit** a finished one by taking it "
                    "apart and changing one decision.", elem_id="aw-header")
        create_state = gr.State(None, time_to_live=STATE_TTL_S)
        edit_state = gr.State(None, time_to_live=STATE_TTL_S)
        with gr.Tabs() as tabs:
            with gr.Tab("Create", id="create"):
                with gr.Row():
                    with gr.Column(scale=2):
                        sketch = gr.ImageEditor(
                            label=f"{names[0]} (pick the brush to draw, or upload an image)", type="filepath",
                            format="png", sources=["upload", "clipboard"], image_mode="RGBA",
                            canvas_size=(DRAW_SIZE, DRAW_SIZE), fixed_canvas=True, brush=_brush(channels[0]),
                            layers=False, elem_id="create-input")
                        if first_examples:
                            gr.Examples([[str(p)] for p in first_examples], inputs=[sketch],
                                        label=f"example {names[0]}s")
                        with gr.Row():
                            k = gr.Slider(1, S.MAX_VARIATIONS, value=S.DEFAULT_VARIATIONS, step=1,
                                          label="variations per stage")
                            seed = gr.Number(0, precision=0, minimum=0, label="seed")
                        start = gr.Button("Start", variant="primary", elem_id="create-start")
                    with gr.Column(scale=3):
                        status = gr.Markdown(f"Draw or upload a **{names[0]}**, then press *Start*.",
                                             elem_id="create-status")
                        variations = gr.Gallery(label="variations of the next stage", format="png", columns=4,
                                                height=GALLERY_HEIGHT, object_fit="contain", allow_preview=False,
                                                elem_classes=["pixelated"], elem_id="create-variations")
                        pick = gr.Radio(choices=[], label="chosen variation", type="value", elem_id="create-pick")
                        with gr.Row():
                            back = gr.Button("← Back a stage", elem_id="create-back")
                            reroll = gr.Button("Re-roll", elem_id="create-reroll")
                            pick_btn = gr.Button("Pick →", variant="primary", elem_id="create-pick-btn")
                        path_gallery = gr.Gallery(label="your workflow so far", format="png", columns=len(names),
                                                  fit_columns=False, height=GALLERY_HEIGHT, object_fit="contain",
                                                  elem_classes=["pixelated"], elem_id="create-path")
                        create_files = gr.File(label="downloads: final image, workflow strip, GIF",
                                               file_count="multiple", interactive=False, elem_id="create-files")
                        to_edit = gr.Button("Edit this artwork →", interactive=False, elem_id="create-to-edit")

            with gr.Tab("Edit", id="edit"):
                with gr.Row():
                    with gr.Column(scale=2):
                        artwork = gr.Image(label=f"finished artwork ({names[-1]})", type="filepath", format="png",
                                           image_mode=None, sources=["upload", "clipboard"], height=GALLERY_HEIGHT,
                                           elem_classes=["pixelated"], elem_id="edit-input")
                        if final_examples:
                            gr.Examples([[str(p)] for p in final_examples], inputs=[artwork],
                                        label="example artworks")
                        mode = gr.Radio([("none: the encoders' guess", "none"), ("AdaIN optimisation", "adain"),
                                         ("AdaIN + learned regularisation", "adain+learned")],
                                        value="adain", label="reconstruction", elem_id="edit-mode")
                        steps = gr.Slider(0, S.MAX_STEPS, value=S.DEFAULT_STEPS, step=10,
                                          label="optimisation steps per stage", elem_id="edit-steps")
                        gr.Markdown(loss_note, elem_id="edit-loss-note")
                        decompose = gr.Button("Decompose", variant="primary", elem_id="edit-decompose")
                    with gr.Column(scale=3):
                        summary = gr.Markdown("Upload a finished artwork and press *Decompose*.",
                                              elem_id="edit-summary")
                        inferred = gr.Gallery(label="inferred stages", format="png", columns=len(names),
                                              height=GALLERY_HEIGHT, object_fit="contain", elem_classes=["pixelated"],
                                              elem_id="edit-inferred")
                        current = gr.Gallery(label="current workflow (reconstruction, then your edits)",
                                             format="png", columns=len(names), height=GALLERY_HEIGHT,
                                             object_fit="contain", elem_classes=["pixelated"], elem_id="edit-stages")
                with gr.Row():
                    with gr.Column(scale=2):
                        stage = gr.Radio(names, value=names[1], label="stage to change", elem_id="edit-stage")
                        with gr.Row():
                            edit_seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="edit-seed")
                            resample = gr.Button("Re-sample this stage", variant="primary",
                                                 elem_id="edit-resample")
                        undo = gr.Button("Undo", elem_id="edit-undo")
                        history = gr.Markdown("", elem_id="edit-history")
                    with gr.Column(scale=3):
                        with gr.Accordion("Draw on the chosen stage", open=False, elem_id="edit-draw-panel"):
                            drawing = gr.ImageEditor(label="the chosen stage: pick the brush, draw, then apply",
                                                     type="filepath", format="png", sources=["upload", "clipboard"],
                                                     image_mode="RGBA", brush=_brush(3), layers=False,
                                                     elem_id="edit-drawing")
                            redraw = gr.Button("Apply drawing (regenerates the later stages)", elem_id="edit-redraw")
                edit_files = gr.File(label="downloads: final image, workflow strip, GIF", file_count="multiple",
                                     interactive=False, elem_id="edit-files")

        create_out = [create_state, status, variations, pick, path_gallery, create_files, seed, to_edit]
        heavy = dict(concurrency_id=MODEL_WORK, concurrency_limit=concurrency)
        create = dict(heavy, show_progress_on=[variations])
        start.click(create_start, [sketch, k, seed], create_out, api_name="create_start", **create)
        reroll.click(create_reroll, [k, seed, create_state], create_out, api_name="create_reroll", **create)
        pick_btn.click(create_pick, [pick, k, seed, create_state], create_out, api_name="create_pick", **create)
        back.click(create_back, [k, seed, create_state], create_out, api_name="create_back", **create)
        variations.select(select_variation, None, pick, api_visibility="private", queue=False)
        to_edit.click(send_to_edit, [create_state], [artwork, tabs], api_visibility="private")

        edit_out = [edit_state, summary, inferred, current, history, edit_files, drawing]
        edit = dict(heavy, show_progress_on=[current])
        decompose.click(edit_decompose, [artwork, mode, steps, stage], edit_out, api_name="edit_decompose", **edit)
        resample.click(edit_resample, [stage, edit_seed, edit_state], edit_out + [edit_seed],
                       api_name="edit_resample", **edit)
        redraw.click(edit_redraw, [stage, drawing, edit_state], edit_out, api_name="edit_redraw", **edit)
        undo.click(edit_undo, [stage, edit_state], edit_out, api_name="edit_undo", **edit)
        stage.change(stage_drawing, [stage, edit_state], drawing, api_visibility="private")
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    return demo
