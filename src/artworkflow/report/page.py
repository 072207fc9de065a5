"""The one writer of every HTML page the project produces (generation, editing, training samples,
the demo): a Jinja2 template with autoescaping, so no page is built by concatenating markup."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
from PIL import Image

SCALE = 1.5
"""Images are shown at 1.5× their pixel size (nearest neighbour), so 64 px stages stay readable."""


@dataclass(frozen=True)
class Figure:
    """An image next to the page (``src`` relative to it) with a caption."""
    src: str
    caption: str = ""
    width: int | None = None


@dataclass(frozen=True)
class Section:
    title: str = ""
    text: str = ""
    figures: Sequence[Figure] = ()
    table: Mapping[str, Any] = field(default_factory=dict)
    links: Sequence[tuple[str, str]] = ()


_TEMPLATE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    resources.files("artworkflow.report").joinpath("page.html").read_text(encoding="utf-8"))


def _displayed(folder: Path, fig: Figure, scale: float) -> Figure:
    """Give a figure without a width its pixel width × ``scale``, read from the file's header only."""
    if fig.width is not None:
        return fig
    try:
        with Image.open(folder / fig.src) as im:
            return Figure(fig.src, fig.caption, round(im.width * scale))
    except (OSError, ValueError):
        return fig


def render_page(title: str, sections: Sequence[Section], intro: str = "", folder: Path | None = None,
                scale: float = SCALE) -> str:
    """The page as a string; with ``folder`` (where the page will live) images get their display width."""
    if folder is not None:
        sections = [Section(s.title, s.text, [_displayed(folder, f, scale) for f in s.figures], s.table, s.links)
                    for s in sections]
    return _TEMPLATE.render(title=title, intro=intro, sections=sections)


def write_page(path: str | os.PathLike, title: str, sections: Sequence[Section], intro: str = "",
               scale: float = SCALE) -> Path:
    """Write the page atomically (a reader never sees half a page)."""
    path = Path(path)
    text = render_page(title, sections, intro, path.parent, scale)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
