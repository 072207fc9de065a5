"""Fig. 5 of the paper as files: from one first-stage image, variations at each stage."""
from __future__ import annotations

import html
import os
from pathlib import Path

from .data.images import make_grid, save_image
from .pipeline import WorkflowPipeline


def write_generation(model: str | os.PathLike, input_image: str | os.PathLike, out: str | os.PathLike,
                     variations: int = 5, seed: int = 0, device: str = "cpu") -> Path:
    """Write ``stage-<name>.png`` for every generated stage (each row one workflow in which only that
    stage's latent changes), ``random.png`` (all latents random) and an ``index.html`` showing them."""
    pipe = WorkflowPipeline.from_pretrained(model, device)
    x1 = pipe.load(input_image, 0)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = pipe.names
    files = []
    for i in range(len(names) - 1):
        rows = [[s[0].cpu() for s in wf] for wf in pipe.stage_variations(x1, i, variations, seed)]
        files.append((f"stage-{names[i + 1]}.png", f"variations of '{names[i + 1]}' (stage {i + 2}); "
                      "earlier stages fixed"))
        save_image(make_grid(rows), out / files[-1][0])
    rows = [[s[0].cpu() for s in pipe.sample(x1, seed=seed * 1000 + 500 + v)] for v in range(variations)]
    files.append(("random.png", "every stage re-sampled"))
    save_image(make_grid(rows), out / files[-1][0])
    body = "\n".join(f"<h2>{html.escape(cap)}</h2><img src='{html.escape(f)}'>" for f, cap in files)
    (out / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>artworkflow generation</title>"
        "<style>body{font-family:sans-serif}img{image-rendering:pixelated;width:"
        f"{96 * len(names)}px}}</style><h1>Columns: {' → '.join(map(html.escape, names))}</h1>{body}")
    return out
