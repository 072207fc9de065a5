"""Turn a folder of finished images into a multi-stage dataset with the paper's recipes, and the
file-writing rules every dataset builder shares (atomic PNGs, no clobbering, hash splits)."""
from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from ...config import StageSpec, WorkflowSpec
from ...errors import ConfigError, DatasetError
from ...outputs import writing
from ..layout import SPLITS, stage_dir, write_spec
from .flat import flat_colouring, remove_background
from .sketch import pencil_sketch
from .superpixel import rough_colouring

RECIPES: dict[str, WorkflowSpec] = {
    "anime": WorkflowSpec("anime", (StageSpec("sketch", 1, "line"), StageSpec("rough", 3, "region"),
                                    StageSpec("final", 3, "smooth"))),
    "face": WorkflowSpec("face", (StageSpec("sketch", 1, "line"), StageSpec("flat", 3, "region"),
                                  StageSpec("final", 3, "smooth"))),
}
_UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def split_of(item_id: str, test_fraction: float) -> str:
    """'test' or 'train' from a hash of the id, so an item keeps its split when others are added,
    removed or processed in another order."""
    digest = hashlib.sha1(item_id.encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2.0**64 < test_fraction else "train"


def check_options(size: int, test_fraction: float) -> None:
    if not isinstance(size, int) or size < 8:
        raise ConfigError(f"size must be an integer of at least 8 pixels, got {size!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1), got {test_fraction}")


def prepare_output_dir(out: str | os.PathLike, overwrite: bool) -> Path:
    """Create ``out``, refusing a non-empty folder unless ``overwrite`` so a user's files are never
    replaced by accident. With ``overwrite`` only files the build writes are replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder; choose another output path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"{out}: folder is not empty; choose an empty folder or pass --overwrite "
                           "(overwrite=True in Python: files the build writes are replaced, others are left alone)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an HxW or HxWx3 uint8 array as an optimised PNG, atomically: a reader or an interrupted
    build never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG", optimize=True)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_item(out: Path, split: str, item_id: str, stages: Mapping[str, np.ndarray]) -> None:
    for stage, image in stages.items():
        save_png(stage_dir(out, split, stage) / f"{item_id}.png", image)


def leftover_files(out: Path, spec: WorkflowSpec, written: Mapping[str, Iterable[str]]) -> list[str]:
    """PNGs in the stage folders that this build did not write (from an earlier build into the same
    folder); they are left in place but would give stages different ids, so they are reported."""
    extra = []
    for split in SPLITS:
        keep = {f"{i}.png" for i in written.get(split, ())}
        for stage in spec.names:
            folder = stage_dir(out, split, stage)
            if folder.is_dir():
                extra += [str(p) for p in sorted(folder.glob("*.png")) if p.name not in keep]
    return extra


def rgb_on_white(image: Image.Image) -> Image.Image:
    """RGB copy of an image with any transparency composited onto white (not black)."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def centre_square(image: Image.Image, size: int, resample: int = Image.Resampling.LANCZOS) -> Image.Image:
    """Crop the largest centred square and resize it to ``size`` x ``size``."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), resample)


def _open(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image


def _load_labels(path: Path) -> Image.Image:
    image = _open(path)
    if image.mode in ("RGB", "RGBA"):
        array = np.asarray(image.convert("RGB"))
        if not (np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2])):
            raise ValueError("mask is a colour image; expected one integer label per pixel")
        return Image.fromarray(array[..., 0])
    if image.mode in ("LA", "PA"):
        return image.getchannel(0)
    if image.mode not in ("L", "P", "I", "I;16"):
        raise ValueError(f"mask mode {image.mode} is not a label image")
    return image


ID_SEPARATOR = "__"
"""Joins the parts of an image's path inside the source folder into its item id (cats/01.png: cats__01)."""


def _index_folder(folder: Path, exclude: Path | None = None) -> tuple[dict[str, Path], list[dict[str, str]]]:
    """Map id to path for every visible file in the folder and its sub-folders; the id is the path
    inside the folder without the suffix, its parts joined by ``ID_SEPARATOR``. A second file with
    the same id is reported rather than silently chosen between. Nothing under ``exclude`` (an output
    folder inside the source) is taken."""
    found: dict[str, Path] = {}
    duplicates = []
    skip = exclude.resolve() if exclude is not None else None
    files = [p for p in folder.rglob("*") if p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)
             and (skip is None or not p.resolve().is_relative_to(skip))]
    files.sort(key=lambda p: (_item_id(folder, p), p.suffix.lower() != ".png", p.name))
    for p in files:
        item = _item_id(folder, p)
        if item in found:
            duplicates.append({"file": str(p), "reason": f"same id '{item}' as {found[item]}"})
        else:
            found[item] = p
    return found, duplicates


def _item_id(folder: Path, path: Path) -> str:
    return ID_SEPARATOR.join(path.relative_to(folder).with_suffix("").parts)


def warn_without_test_split(out: Path, written: Mapping[str, list[str]], test_fraction: float) -> None:
    """A build whose items all fell into train/ has nothing to evaluate on; say so while it can be fixed."""
    if written["train"] and not written["test"]:
        tqdm.write(f"warning: {out}: none of the {len(written['train'])} items fell into the test split "
                   f"(test fraction {test_fraction:g}), so there is no test/ folder and `artworkflow evaluate` "
                   "cannot run on it; add images or raise --test-fraction", file=sys.stderr)


def _anime_stages(rgb: np.ndarray) -> dict[str, np.ndarray]:
    return {"sketch": pencil_sketch(rgb), "rough": rough_colouring(rgb), "final": rgb}


def _face_stages(rgb: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    flat = flat_colouring(rgb, labels)
    return {"sketch": pencil_sketch(flat), "flat": flat, "final": remove_background(rgb, labels)}


def _same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return abs(a[0] * b[1] - a[1] * b[0]) <= 0.01 * a[0] * b[1]


def _make_item(path: Path, recipe: str, mask: Path | None, size: int) -> dict[str, np.ndarray]:
    """All stages of one item; raises ValueError/OSError with a readable reason when it cannot."""
    image = _open(path)
    rgb = np.asarray(centre_square(rgb_on_white(image), size))
    if recipe == "anime":
        return _anime_stages(rgb)
    if mask is None:
        raise ValueError("no mask with the same name in the masks folder")
    try:
        labels_image = _load_labels(mask)
    except _UNREADABLE as e:
        raise ValueError(f"mask {mask.name} unreadable ({e})") from None
    if not _same_aspect(image.size, labels_image.size):
        raise ValueError(f"mask {mask.name} is {labels_image.size}, image is {image.size}: shapes differ")
    labels = np.asarray(centre_square(labels_image, size, Image.Resampling.NEAREST)).astype(np.int64)
    return _face_stages(rgb, labels)


def build_from_images(src: str | os.PathLike, out: str | os.PathLike, recipe: str,
                      masks: str | os.PathLike | None = None, size: int = 128, test_fraction: float = 0.1,
                      overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Build a 3-stage dataset from a folder of finished artwork (the paper's anime and face recipes).

    ``anime``: sketch (pencil sketch), rough (superpixel colouring), final (the image).
    ``face``: needs ``masks`` (a label PNG per image, same name, 0 = background); sketch (pencil
    sketch of the flat colouring), flat (median colour per region), final (background removed).
    Images are found in ``src`` and its sub-folders (``a/b.png`` becomes item ``a__b``; a mask has the
    image's path under ``masks``), centre-cropped to a square and resized to ``size``. Files that
    cannot be used are skipped, printed to stderr with the reason and listed in the report's ``skipped``.
    """
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe '{recipe}'; choose one of {', '.join(RECIPES)}")
    check_options(size, test_fraction)
    src = Path(src)
    if not src.is_dir():
        raise DatasetError(f"{src}: not a folder of images")
    mask_index: dict[str, Path] = {}
    if recipe == "face":
        if masks is None or not Path(masks).is_dir():
            raise DatasetError(f"the face recipe needs masks=<folder of label PNGs>, got {masks!r}")
        mask_index, _ = _index_folder(Path(masks))
    items, skipped = _index_folder(src, exclude=Path(out))
    if Path(out).resolve() == src.resolve():
        raise DatasetError(f"{out}: the output folder must differ from the source folder")
    spec = RECIPES[recipe]
    out = prepare_output_dir(out, overwrite)

    start = time.perf_counter()
    for entry in skipped:
        tqdm.write(f"skipped {entry['file']}: {entry['reason']}", file=sys.stderr)
    with writing(out):
        written = _write_items(out, items, recipe, mask_index, size, test_fraction, skipped, progress)
        if not written["train"] and not written["test"]:
            raise DatasetError(f"{src}: no usable images ({len(skipped)} skipped); nothing was written")
        write_spec(out, spec)
    warn_without_test_split(out, written, test_fraction)
    return _report(out, spec, size, written, skipped, time.perf_counter() - start)


def _write_items(out: Path, items: dict[str, Path], recipe: str, mask_index: dict[str, Path], size: int,
                 test_fraction: float, skipped: list[dict[str, str]], progress: bool) -> dict[str, list[str]]:
    """Make and write every item; an unusable one is added to ``skipped`` with the reason."""
    written: dict[str, list[str]] = {split: [] for split in SPLITS}
    for item_id, path in tqdm(sorted(items.items()), desc=f"{recipe} dataset", unit="img", disable=not progress):
        try:
            stages = _make_item(path, recipe, mask_index.get(item_id), size)
        except _UNREADABLE as e:
            skipped.append({"file": str(path), "reason": str(e) or e.__class__.__name__})
            tqdm.write(f"skipped {path}: {skipped[-1]['reason']}", file=sys.stderr)
            continue
        split = split_of(item_id, test_fraction)
        write_item(out, split, item_id, stages)
        written[split].append(item_id)
    return written


def _report(out: Path, spec: WorkflowSpec, size: int, written: Mapping[str, list[str]],
            skipped: list[dict[str, str]], seconds: float) -> dict[str, Any]:
    leftover = leftover_files(out, spec, written)
    if leftover:
        tqdm.write(f"warning: {len(leftover)} PNG(s) from an earlier build remain in {out} "
                   f"(e.g. {leftover[0]}); remove them or build into an empty folder", file=sys.stderr)
    return {"out": str(out), "workflow": spec.to_dict(), "size": size,
            "train": len(written["train"]), "test": len(written["test"]),
            "skipped": skipped, "leftover": leftover, "seconds": round(seconds, 2)}
