"""The dataset format: ``workflow.yaml`` plus ``<split>/<stage>/<id>.png``."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from ..config import WorkflowSpec
from ..errors import ConfigError, DatasetError

WORKFLOW_FILE = "workflow.yaml"
SPLITS = ("train", "test")


def read_spec(root: str | os.PathLike) -> WorkflowSpec:
    path = Path(root) / WORKFLOW_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: not found; a dataset folder needs a {WORKFLOW_FILE} naming its stages "
                           "(see 'artworkflow dataset toy' for an example)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise DatasetError(f"{path}: not valid YAML ({e.__class__.__name__}); fix the syntax") from None
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
