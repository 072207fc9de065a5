"""Side-by-side figures of trained models on the same test items, for docs/results.md.

    python docs/make_figures.py --model before=src/artworkflow/assets/demo-model --model after=runs/x \
        --data fluent64 --items birthday-cake,pensive-face --out docs/img

Writes, per item, ``fig5-ITEM.png`` (variations at each stage from the item's first stage, earlier
stages fixed: the paper's Fig. 5), ``fig6-ITEM.png`` (the finished item reconstructed with AdaIN
optimisation and the learned regulariser, then each stage re-sampled: Fig. 6) and ``fig8-ITEM.png``
(the reconstruction and one re-sampled edit for none / z / AdaIN / AdaIN + LR: Fig. 8). Each model
is one labelled block of rows; every model sees the same seeds.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from artworkflow.data.images import load_image, make_grid, save_image, to_pil
from artworkflow.data.layout import image_path, read_spec
from artworkflow.editing.session import EditSession
from artworkflow.pipeline import WorkflowPipeline

VARIATIONS = 5
METHODS = {"none": ("none", "none"), "z": ("z", "none"), "AdaIN": ("adain", "none"),
           "AdaIN + LR": ("adain", "learned")}


def _labelled(blocks: list[tuple[str, torch.Tensor]]) -> Image.Image:
    """Stack image grids vertically, each under a one-line label."""
    images = [(label, to_pil(grid).convert("RGB")) for label, grid in blocks]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(max(im.width, int(measure.textlength(label)) + 4) for label, im in images)
    canvas = Image.new("RGB", (width, sum(im.height + 14 for _, im in images)), "white")
    draw, y = ImageDraw.Draw(canvas), 0
    for label, im in images:
        draw.text((2, y + 1), label, fill="black")
        canvas.paste(im, (0, y + 14))
        y += im.height + 14
    return canvas


def fig5(pipe: WorkflowPipeline, first: torch.Tensor, seed: int) -> torch.Tensor:
    """One row per variation; for each later stage a group of columns where only it varies."""
    groups = [[[s[0] for s in wf] for wf in pipe.stage_variations(first, i, VARIATIONS, seed)]
              for i in range(len(pipe.names) - 1)]
    return make_grid([sum((g[v] for g in groups), []) for v in range(VARIATIONS)])


def fig6(session: EditSession, art: torch.Tensor, seed: int) -> torch.Tensor:
    """Row 1: the real artwork, then its reconstruction; then one row per stage re-sampled three times."""
    rows = [[art[0]] + [s[0] for s in session.stages]]
    for name in session.names[1:]:
        row = []
        for v in range(3):
            row.append(session.resample(name, seed + v)[-1][0])
            session.undo()
        rows.append([torch.ones_like(art[0])] * (len(session.names) - 2) + row)
    return make_grid(rows)


def fig8_row(session: EditSession, art: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """The real artwork, the reconstructed stages, then the stages after re-sampling the first
    generated stage."""
    rec = [art[0]] + [s[0] for s in session.stages]
    edited = [s[0] for s in session.resample(session.names[1], seed)]
    session.undo()
    return rec + edited


def figures_for_item(models: dict[str, Path], data: Path, item: str, seed: int) -> dict[str, Image.Image]:
    spec = read_spec(data)
    blocks: dict[str, list[tuple[str, torch.Tensor]]] = {"fig5": [], "fig6": [], "fig8": []}
    for label, path in models.items():
        pipe = WorkflowPipeline.from_pretrained(path)
        first = pipe.load(image_path(data, "test", spec.names[0], item), 0)
        art = load_image(image_path(data, "test", spec.names[-1], item), spec.channels[-1])[None]
        blocks["fig5"].append((f"{label}: variations of " + ", then ".join(pipe.names[1:]), fig5(pipe, first, seed)))
        sessions = {m: EditSession.from_artwork(pipe.workflow, art, method=a, regularization=r, progress=False)
                    for m, (a, r) in METHODS.items()}
        blocks["fig6"].append((f"{label}: real | reconstruction (AdaIN + LR); below: final stage after "
                               f"re-sampling {', then '.join(pipe.names[1:])} (3 seeds)",
                               fig6(sessions["AdaIN + LR"], art, seed)))
        rows = [fig8_row(s, art, seed) for s in sessions.values()]
        blocks["fig8"].append((f"{label}, rows {' / '.join(METHODS)}: real | reconstruction | "
                               f"{pipe.names[1]} re-sampled",
                               make_grid(rows)))
    return {name: _labelled(b) for name, b in blocks.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, metavar="LABEL=PATH",
                   help="a model to show, repeatable; blocks appear in this order")
    p.add_argument("--data", required=True, type=Path, help="dataset whose test items are shown")
    p.add_argument("--items", required=True, help="comma-separated test item ids")
    p.add_argument("--out", required=True, type=Path, help="folder for the PNGs")
    p.add_argument("--seed", type=int, default=0, help="seed of every latent drawn (default: 0)")
    a = p.parse_args()
    models = {spec.split("=", 1)[0]: Path(spec.split("=", 1)[1]) for spec in a.model}
    for item in a.items.split(","):
        for name, image in figures_for_item(models, a.data, item, a.seed).items():
            path = save_image(image, a.out / f"{name}-{item}.png")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
