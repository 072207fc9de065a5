"""The layer order of pyproject.toml's import-linter contract holds: a module imports only from the
layers below it, so the command line sits on top and nothing below imports it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import artworkflow

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(config: Path, cwd: Path) -> subprocess.CompletedProcess:
    """lint-imports on the source tree these tests import, not on whatever copy is installed."""
    src = str(Path(artworkflow.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", str(config)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_layer_contract_is_kept(tmp_path):
    r = lint(PYPROJECT, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 kept, 0 broken" in r.stdout, r.stdout


def test_a_broken_contract_is_reported(tmp_path):
    """The same check fails on an import that exists, so a passing run above means something."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_package = "artworkflow"\n\n'
                      '[[tool.importlinter.contracts]]\nname = "the command line without errors"\n'
                      'type = "forbidden"\nsource_modules = ["artworkflow.cli"]\n'
                      'forbidden_modules = ["artworkflow.errors"]\n')
    r = lint(config, tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "0 kept, 1 broken" in r.stdout and "artworkflow.cli.entry -> artworkflow.errors" in r.stdout, r.stdout
