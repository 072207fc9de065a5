"""The dataset format: ``workflow.yaml`` plus ``<split>/<stage>/<id>.png``."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from ..config import WorkflowSpec
from ..errors import ConfigError, DatasetError, ImageError
from .images import IMAGE_SUFFIXES, read_size

WORKFLOW_FILE = "workflow.yaml"
SPLITS = ("train", "test")


def read_spec(root: str | os.PathLike) -> WorkflowSpec:
    path = Path(root) / WORKFLOW_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: not found; a dataset folder needs a {WORKFLOW_FILE} naming its stages "
                           "(see 'artworkflow dataset toy' for an example)")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot be read as text ({e.__class__.__name__}); save it as UTF-8 "
                           "YAML") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DatasetError(f"{path}: not valid YAML ({e.__class__.__name__}{where}); fix the syntax") from None
    try:
        return WorkflowSpec.from_dict(data)
    except ConfigError as e:
        raise DatasetError(f"{path}: {e}") from None


def write_spec(root: str | os.PathLike, spec: WorkflowSpec) -> Path:
    path = Path(root) / WORKFLOW_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
    os.replace(tmp, path)
    return path


def stage_dir(root: str | os.PathLike, split: str, stage: str) -> Path:
    return Path(root) / split / stage


def _stage_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Image files of one stage folder by item id; other files, hidden files and sub-folders are
    ignored so that .DS_Store or an editor's backups never break a dataset."""
    files: dict[str, Path] = {}
    problems = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        if p.stem in files:
            problems.append(f"{p}: same item id as {files[p.stem].name}; keep only one of the two files")
            continue
        files[p.stem] = p
    return files, problems


def _mismatches(split_dir: Path, spec: WorkflowSpec, files: list[dict[str, Path]]) -> list[str]:
    """One line per file that stops an item from having exactly one image in every stage. An item in
    more than half of the stages counts as real (its gaps are missing files), otherwise its files are extra."""
    n = spec.n_stages
    all_ids = sorted(set().union(*files))
    lines: list[tuple[int, str, str]] = []
    for item in all_ids:
        present = [s for s in range(n) if item in files[s]]
        if len(present) == n:
            continue
        absent = [s for s in range(n) if item not in files[s]]
        if 2 * len(present) > n:
            suffix = files[present[0]][item].suffix
            have = ", ".join(spec.names[s] for s in present)
            for s in absent:
                path = split_dir / spec.names[s] / f"{item}{suffix}"
                lines.append((s, item, f"{path}: missing (item '{item}' has images in {have}); add it "
                                       "or remove the item's other files"))
        else:
            lacking = ", ".join(spec.names[s] for s in absent)
            for s in present:
                lines.append((s, item, f"{files[s][item]}: extra (no image '{item}' in {lacking}); remove it "
                                       "or add the missing stages"))
    return [text for _, _, text in sorted(lines)]


def _scan(root: Path, split: str, spec: WorkflowSpec) -> tuple[dict[str, tuple[Path, ...]], list[str]]:
    """Complete items (id → one path per stage) and every problem found while pairing files."""
    split_dir = root / split
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir}: split folder not found; create it with one folder per stage "
                           f"({', '.join(spec.names)})")
    problems = []
    files = []
    for name in spec.names:
        folder = stage_dir(root, split, name)
        if not folder.is_dir():
            problems.append(f"{folder}: stage folder not found; create it and put one image per item in it")
            continue
        found, dup = _stage_files(folder)
        files.append(found)
        problems.extend(dup)
    if len(files) < spec.n_stages:
        return {}, problems
    problems.extend(_mismatches(split_dir, spec, files))
    complete = sorted(set.intersection(*(set(f) for f in files)))
    return {i: tuple(f[i] for f in files) for i in complete}, problems


def _report(header: str, problems: list[str], limit: int) -> str:
    shown = problems[:limit]
    more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
    return header + "".join(f"\n  {p}" for p in shown) + more


def _raise(header: str, problems: list[str]) -> None:
    """One problem is raised as its own line; several get a header and one line each."""
    if len(problems) == 1:
        raise DatasetError(problems[0])
    if problems:
        raise DatasetError(_report(header, problems, limit=10))


def item_paths(root: str | os.PathLike, split: str, check_sizes: bool = False) -> dict[str, tuple[Path, ...]]:
    """Sorted ids mapped to their image paths in stage order; raises unless every stage has every id.
    ``check_sizes`` also reads every file header, so unreadable or mis-sized stages stop a run before it
    writes anything."""
    root = Path(root)
    spec = read_spec(root)
    items, problems = _scan(root, split, spec)
    _raise(f"{root / split}: the stage folders do not hold the same items ({len(problems)} problems); "
           "add each missing file or remove each extra one", problems)
    if check_sizes:
        problems = [p for item, paths in items.items() for p in _size_problems(item, paths)]
        _raise(f"{root / split}: {len(problems)} unreadable or mis-sized images; fix or remove each one",
               problems)
    return items


def list_ids(root: str | os.PathLike, split: str) -> list[str]:
    """Sorted item ids of a split, checked to be present in every stage folder."""
    return list(item_paths(root, split))


def image_path(root: str | os.PathLike, split: str, stage: str, item: str) -> Path:
    """The file of one item in one stage, whichever accepted suffix (any letter case) it has."""
    folder = stage_dir(root, split, stage)
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{item}{suffix}", folder / f"{item}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    if folder.is_dir():
        for p in folder.iterdir():
            if p.stem == item and p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                return p
    raise DatasetError(f"{folder / (item + '.png')}: not found; add the image of item '{item}' for stage "
                       f"'{stage}' ({', '.join(IMAGE_SUFFIXES)} accepted)")


def _size_problems(item: str, paths: tuple[Path, ...], decode: bool = False) -> list[str]:
    """Unreadable files of one item, and any stage whose size differs from the first readable one."""
    problems = []
    first: tuple[Path, tuple[int, int]] | None = None
    for path in paths:
        try:
            size = read_size(path, decode=decode)
        except ImageError as e:
            problems.append(str(e))
            continue
        if first is None:
            first = (path, size)
        elif size != first[1]:
            (h, w), (h0, w0) = size, first[1]
            problems.append(f"{path}: {w}x{h} but {first[0]} is {w0}x{h0}; the stages of item '{item}' "
                            "must have the same size, so resize or re-export it to match")
    return problems


def validate(root: str | os.PathLike, splits: tuple[str, ...] = SPLITS, check_images: bool = True) -> dict:
    """Check a whole dataset and report every problem at once, so one run lists everything to fix.
    Splits without a folder are skipped; at least one must exist. ``check_images`` decodes every image,
    so a truncated file is found here rather than hours into training."""
    root = Path(root)
    spec = read_spec(root)
    present = [s for s in splits if (root / s).is_dir()]
    if not present:
        raise DatasetError(f"{root}: no split folder found (expected {', '.join(splits)}); "
                           f"create {splits[0]}/<stage>/ folders for the stages {', '.join(spec.names)}")
    problems: list[str] = []
    counts = {}
    for split in present:
        items, found = _scan(root, split, spec)
        problems.extend(found)
        if not items and not found:
            problems.append(f"{root / split}: no images in the stage folders; add images or remove the split")
        if check_images:
            for item, paths in items.items():
                problems.extend(_size_problems(item, paths, decode=True))
        counts[split] = len(items)
    if len(problems) == 1:
        raise DatasetError(problems[0])
    if problems:
        head = f"{root}: {len(problems)} problem(s); first: {problems[0]}"
        raise DatasetError(_report(head, problems[1:], limit=100))
    warnings = []
    if "test" in splits and not counts.get("test"):
        warnings.append(f"{root / 'test'}: no test split, so `artworkflow evaluate` cannot run on this dataset and "
                        "the training pages preview training items; add test/<stage>/ folders with a few items")
    return {"spec": spec, "splits": counts, "warnings": warnings}
