"""The Gradio interface: one builder per tab lays out its components, and one wiring function per
tab connects them to the events in ``handlers``, with ``preprocess=False`` so that Gradio hands
over what was sent and opens no image before the app's checks. Both tabs are built from the loaded model's
workflow (its stage names and count), so one layout serves 3- and 4-stage models alike. A tab's
data lives in one ``state.Session`` per browser tab, and all model work shares one queue slot so a
small machine is never asked to run two optimisations at once."""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from ..data.images import MAX_SIDE
from ..nn.vgg import PerceptualLoss
from ..pipeline import WorkflowPipeline
from . import handlers as H
from . import state as S

MODEL_WORK = "model-work"
"""Concurrency group of every event that runs the networks."""

STATE_TTL_S = 2 * 3600
GALLERY_HEIGHT = 280
UPLOAD_TYPES = "a PNG, JPEG or WebP file"

APP_CSS = """
.pixelated img { image-rendering: pixelated; }
#edit-preview img { width: 100%; height: 100%; object-fit: contain; }
#aw-header h1 { margin-bottom: 0; }
"""
"""Stage images are small (the model's resolution); show them blocky rather than blurred."""


def _brush(channels: int) -> gr.Brush:
    if channels == 1:
        return gr.Brush(default_size=8, colors=["#000000", "#555555", "#aaaaaa", "#ffffff"],
                        default_color="#000000", color_mode="defaults")
    return gr.Brush(default_size=8, default_color="#000000")


def _gallery(label: str, elem_id: str, columns: int, **kwargs) -> gr.Gallery:
    return gr.Gallery(label=label, format="png", columns=columns, height=GALLERY_HEIGHT, object_fit="contain",
                      elem_classes=["pixelated"], elem_id=elem_id, **kwargs)


def _upload(label: str, elem_id: str) -> gr.File:
    """A file box: Gradio hands over the path and nothing opens the file before the app's checks."""
    return gr.File(label=f"{label} ({UPLOAD_TYPES})", file_count="single", type="filepath", height=90,
                   elem_id=elem_id)


def _downloads(elem_id: str) -> gr.File:
    return gr.File(label="downloads: final image, workflow strip, GIF, layered files (.ora, .psd)", file_count="multiple", interactive=False,
                   elem_id=elem_id)


def _bind(ctx: H.AppContext, handler, **kwargs) -> functools.partial:
    """``handler`` with the app's context (and any keyword arguments) filled in; Gradio sees the
    remaining parameters."""
    return functools.partial(handler, ctx, **kwargs)


# ---------------------------------------------------------------- create tab
@dataclass
class CreateTab:
    upload: gr.File
    sketch: gr.ImageEditor
    k: gr.Slider
    seed: gr.Number
    start: gr.Button
    status: gr.Markdown
    variations: gr.Gallery
    pick: gr.Radio
    back: gr.Button
    reroll: gr.Button
    pick_btn: gr.Button
    path: gr.Gallery
    files: gr.File
    to_edit: gr.Button
    reference: gr.File
    borrow: gr.Button


def _borrow_controls(label: str, button: str, prefix: str) -> tuple[gr.File, gr.Button]:
    """A reference artwork's upload and the button that borrows a stage from it."""
    with gr.Accordion("Borrow a stage from another artwork", open=False, elem_id=f"{prefix}-borrow-panel"):
        reference = _upload(label, f"{prefix}-reference")
        borrow = gr.Button(button, elem_id=f"{prefix}-borrow")
    return reference, borrow


def create_tab(ctx: H.AppContext, examples: list[Path]) -> CreateTab:
    """Create: draw or upload the first stage, then pick a variation of every later stage in turn."""
    first, n = ctx.names[0], len(ctx.names)
    channels = ctx.pipeline.workflow.spec.channels
    with gr.Row():
        with gr.Column(scale=2):
            sketch = gr.ImageEditor(
                label=f"{first} (pick the brush to draw)", type="filepath", format="png",
                sources=(), image_mode="RGBA", canvas_size=(H.DRAW_SIZE, H.DRAW_SIZE), fixed_canvas=True,
                brush=_brush(channels[0]), layers=False, elem_id="create-input")
            upload = _upload(f"or upload a {first} to draw on", "create-upload")
            if examples:
                gr.Examples([[str(p)] for p in examples], inputs=[upload], label=f"example {first}s")
            with gr.Row():
                k = gr.Slider(1, S.MAX_VARIATIONS, value=S.DEFAULT_VARIATIONS, step=1, label=S.VARIATIONS_LABEL)
                seed = gr.Number(0, precision=0, minimum=0, maximum=S.MAX_SEED, label=S.SEED_LABEL)
            start = gr.Button("Start", variant="primary", elem_id="create-start")
        with gr.Column(scale=3):
            status = gr.Markdown(f"Draw or upload a **{first}**, then press *Start*.", elem_id="create-status")
            variations = _gallery("variations of the next stage", "create-variations", 4, allow_preview=False)
            pick = gr.Radio(choices=[], label=S.PICK_LABEL, type="value", elem_id="create-pick")
            with gr.Row():
                back = gr.Button("← Back a stage", elem_id="create-back")
                reroll = gr.Button("Re-roll", elem_id="create-reroll")
                pick_btn = gr.Button("Pick →", variant="primary", elem_id="create-pick-btn")
            path = _gallery("your workflow so far", "create-path", n, fit_columns=False)
            files = _downloads("create-files")
            to_edit = gr.Button("Edit this artwork →", interactive=False, elem_id="create-to-edit")
            reference, borrow = _borrow_controls(f"reference artwork ({ctx.names[-1]})",
                                                 "Use the next stage of this artwork (as variation 1)", "create")
    return CreateTab(upload, sketch, k, seed, start, status, variations, pick, back, reroll, pick_btn, path,
                     files, to_edit, reference, borrow)


def wire_create(ctx: H.AppContext, tab: CreateTab, session: gr.State, heavy: dict) -> None:
    out = [session, tab.status, tab.variations, tab.pick, tab.path, tab.files, tab.seed, tab.to_edit]
    model = dict(heavy, show_progress_on=[tab.variations], preprocess=False)
    tab.upload.change(_bind(ctx, H.create_upload), [tab.upload], [tab.sketch], api_visibility="private",
                      preprocess=False)
    tab.start.click(_bind(ctx, H.create_start, blobs=tab.sketch.blob_storage), [session, tab.sketch, tab.k, tab.seed],
                    out, api_name="create_start", **model)
    tab.reroll.click(_bind(ctx, H.create_reroll), [session, tab.k, tab.seed], out, api_name="create_reroll",
                     **model)
    tab.pick_btn.click(_bind(ctx, H.create_pick), [session, tab.pick, tab.k, tab.seed], out,
                       api_name="create_pick", **model)
    tab.back.click(_bind(ctx, H.create_back), [session, tab.k, tab.seed], out, api_name="create_back", **model)
    tab.borrow.click(_bind(ctx, H.create_borrow), [session, tab.reference, tab.k, tab.seed], out,
                     api_name="create_borrow", **model)
    tab.variations.select(H.select_variation, None, tab.pick, api_visibility="private", queue=False)


# ---------------------------------------------------------------- edit tab
@dataclass
class EditTab:
    artwork: gr.File
    preview: gr.Image
    mode: gr.Radio
    steps: gr.Slider
    decompose: gr.Button
    summary: gr.Markdown
    inferred: gr.Gallery
    current: gr.Gallery
    stage: gr.Radio
    seed: gr.Number
    resample: gr.Button
    undo: gr.Button
    history: gr.Markdown
    stage_upload: gr.File
    drawing: gr.ImageEditor
    redraw: gr.Button
    files: gr.File
    reference: gr.File
    borrow: gr.Button


def _edit_inputs(ctx: H.AppContext, examples: list[Path]) -> tuple:
    """The upload, its preview and the reconstruction settings (the left column of the Edit tab)."""
    artwork = _upload(f"finished artwork ({ctx.names[-1]})", "edit-input")
    preview = gr.Image(label="your artwork", format="png", interactive=False,
                       height=GALLERY_HEIGHT, elem_id="edit-preview")
    if examples:
        gr.Examples([[str(p)] for p in examples], inputs=[artwork], label="example artworks")
    mode = gr.Radio([("auto: learned regularisation where trained, else w = 0", "auto"),
                     ("none: the encoders' guess", "none"), ("AdaIN optimisation", "adain"),
                     ("AdaIN + learned regularisation", "adain+learned")], value=S.DEFAULT_EDIT_MODE,
                    label=S.MODE_LABEL, elem_id="edit-mode")
    steps = gr.Slider(0, S.MAX_STEPS, value=S.DEFAULT_STEPS, step=10, label=S.STEPS_LABEL, elem_id="edit-steps")
    gr.Markdown(ctx.loss_note, elem_id="edit-loss-note")
    decompose = gr.Button("Decompose", variant="primary", elem_id="edit-decompose")
    return artwork, preview, mode, steps, decompose


def _edit_changes(ctx: H.AppContext) -> tuple:
    """The stage to change and the ways to change it: re-sample, draw, upload, undo."""
    names = ctx.names
    with gr.Row():
        with gr.Column(scale=2):
            stage = gr.Radio(names, value=names[1], label=S.STAGE_LABEL, elem_id="edit-stage")
            with gr.Row():
                seed = gr.Number(0, precision=0, minimum=0, maximum=S.MAX_SEED, label=S.SEED_LABEL,
                              elem_id="edit-seed")
                resample = gr.Button("Re-sample this stage", variant="primary", elem_id="edit-resample")
            undo = gr.Button("Undo", elem_id="edit-undo")
            history = gr.Markdown("", elem_id="edit-history")
        with gr.Column(scale=3):
            with gr.Accordion("Draw on the chosen stage", open=False, elem_id="edit-draw-panel"):
                drawing = gr.ImageEditor(
                    label="the chosen stage: pick the brush, draw, then apply", type="filepath",
                    format="png", sources=(), image_mode="RGBA", brush=_brush(3), layers=False,
                    elem_id="edit-drawing")
                stage_upload = _upload("or upload an image for the chosen stage", "edit-stage-upload")
                redraw = gr.Button("Apply drawing (regenerates the later stages)", elem_id="edit-redraw")
            reference, borrow = _borrow_controls(f"artwork ({ctx.names[-1]}) to take the chosen stage from",
                                                 "Use the chosen stage of this artwork", "edit")
    return stage, seed, resample, undo, history, stage_upload, drawing, redraw, reference, borrow


def edit_tab(ctx: H.AppContext, examples: list[Path]) -> EditTab:
    """Edit: take a finished artwork apart, then change one stage and regenerate the later ones."""
    n = len(ctx.names)
    with gr.Row():
        with gr.Column(scale=2):
            inputs = _edit_inputs(ctx, examples)
        with gr.Column(scale=3):
            summary = gr.Markdown("Upload a finished artwork and press *Decompose*.", elem_id="edit-summary")
            inferred = _gallery("inferred stages", "edit-inferred", n)
            current = _gallery("current workflow (reconstruction, then your edits)", "edit-stages", n)
    stage, seed, resample, undo, history, stage_upload, drawing, redraw, reference, borrow = _edit_changes(ctx)
    return EditTab(*inputs, summary, inferred, current, stage, seed, resample, undo, history, stage_upload,
                   drawing, redraw, _downloads("edit-files"), reference, borrow)


def wire_edit(ctx: H.AppContext, tab: EditTab, session: gr.State, heavy: dict) -> None:
    out = [session, tab.summary, tab.inferred, tab.current, tab.history, tab.files, tab.drawing]
    model = dict(heavy, show_progress_on=[tab.current], preprocess=False)
    private = dict(api_visibility="private", preprocess=False)
    tab.artwork.change(_bind(ctx, H.edit_preview), [tab.artwork], [tab.preview], **private)
    tab.decompose.click(_bind(ctx, H.edit_decompose), [session, tab.artwork, tab.mode, tab.steps, tab.stage], out,
                        api_name="edit_decompose", **model)
    tab.resample.click(_bind(ctx, H.edit_resample), [session, tab.stage, tab.seed], out + [tab.seed],
                       api_name="edit_resample", **model)
    tab.redraw.click(_bind(ctx, H.edit_redraw, blobs=tab.drawing.blob_storage), [session, tab.stage, tab.drawing],
                     out, api_name="edit_redraw", **model)
    tab.undo.click(_bind(ctx, H.edit_undo), [session, tab.stage], out, api_name="edit_undo", **model)
    tab.borrow.click(_bind(ctx, H.edit_borrow), [session, tab.stage, tab.reference], out, api_name="edit_borrow",
                     **model)
    tab.stage.change(_bind(ctx, H.stage_drawing), [session, tab.stage], tab.drawing, **private)
    tab.stage_upload.change(_bind(ctx, H.edit_upload_stage), [tab.stage_upload, tab.stage], tab.drawing, **private)


# ---------------------------------------------------------------- the app
def build_app(pipeline: WorkflowPipeline | str | os.PathLike, *, output_dir: str | os.PathLike | None = None,
              device: str = "cpu", vgg_weights: str | os.PathLike | None = None,
              perceptual: PerceptualLoss | None | str = "auto", concurrency: int = 1,
              max_side: int = MAX_SIDE, max_file_size: int | None = None, examples: bool = True,
              title: str = "artworkflow") -> gr.Blocks:
    """The app for one model (a pipeline, or a run or model folder). Downloads are written under
    ``output_dir`` (a fresh temporary folder if not given; serve that folder only); uploads over
    ``max_file_size`` bytes or ``max_side`` px are refused from their header. ``perceptual``
    "auto" uses VGG16 when its weights are on this machine and says so in the Edit tab otherwise."""
    if not isinstance(pipeline, WorkflowPipeline):
        pipeline = WorkflowPipeline.from_pretrained(pipeline, device=device)
    concurrency = S.whole_number(concurrency, "concurrency", 1)
    ctx = H.AppContext.create(pipeline, output_dir, max_side, max_file_size, perceptual, vgg_weights, device)
    first_examples, final_examples = S.bundled_examples(ctx.names) if examples else ([], [])
    res = pipeline.resolution
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, STATE_TTL_S)) as demo:
        gr.Markdown(f"# {title}\nA workflow of {len(ctx.names)} stages: {ctx.chain}. **Create** artwork by "
                    "following the stages, or **Edit** a finished one by taking it apart and changing one "
                    f"decision. The model works at {res}×{res} px; every stage is shown and downloaded at "
                    f"your artwork's own size (up to {S.APP_MAX_SIZE} px).", elem_id="aw-header")
        session = gr.State(ctx.new_session(), time_to_live=STATE_TTL_S)
        with gr.Tabs() as tabs:
            with gr.Tab("Create", id="create"):
                create = create_tab(ctx, first_examples)
            with gr.Tab("Edit", id="edit"):
                edit = edit_tab(ctx, final_examples)
        heavy = dict(concurrency_id=MODEL_WORK, concurrency_limit=concurrency)
        wire_create(ctx, create, session, heavy)
        wire_edit(ctx, edit, session, heavy)
        create.to_edit.click(_bind(ctx, H.send_to_edit), [session], [edit.artwork, tabs], api_visibility="private")
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    return demo
