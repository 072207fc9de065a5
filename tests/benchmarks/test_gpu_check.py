"""The GPU self-check in its CPU mode at its smallest: every check passes, the training losses fall,
the report is one JSON document (also written with --out), and a failing check is reported as one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402

CHECKS = {"train/tiny/fp32", "train/tiny/bf16", "train/paper/fp32", "train/paper/bf16", "ddp", "edit/bundled",
          "generate/bundled", "edit/paper", "generate/paper", "paper_speed"}


def test_cpu_mode_passes_every_check_with_falling_losses(tmp_path):
    out = tmp_path / "check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu",
                           "--size", "tiny", "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == report
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == CHECKS
    assert report["ok"] and all(c["ok"] and c["seconds"] > 0 for c in checks.values())
    for name in CHECKS:
        if name.startswith("train/"):
            details = checks[name]["details"]
            assert details["finite"] and set(details["loss"]) == {"inference", "generation"}
            for loss in details["loss"].values():
                assert len(loss["curve"]) == details["steps_per_separate_phase"]
                assert loss["last_k_mean"] < loss["first_k_mean"], (name, loss)
    ddp = checks["ddp"]["details"]
    assert ddp["backend"] == "gloo" and ddp["processes"] == 2
    assert ddp["max_weight_gap_between_processes"] == 0.0
    assert ddp["max_weight_gap_to_one_process"] < 0.01 * ddp["max_weight_change_of_the_step"]
    assert all(checks[f"edit/{w}"]["details"]["undo_restores_bit_identical"] for w in ("bundled", "paper"))
    assert report["sizes"]["paper_model"]["resolution"] == 64


def test_a_failing_check_is_reported_not_raised():
    record = gpu_check.record("boom", "cpu", lambda: {"ok": 1 / 0})
    assert record["name"] == "boom" and not record["ok"]
    assert record["details"]["error"].startswith("ZeroDivisionError")


def test_out_refuses_an_existing_file(tmp_path, capsys):
    out = tmp_path / "mine.json"
    out.write_text("kept")
    with pytest.raises(SystemExit) as exit_:
        gpu_check.main(["--device", "cpu", "--out", str(out)])
    assert exit_.value.code == 2 and "already exists" in capsys.readouterr().err
    assert out.read_text() == "kept"


def test_full_size_on_a_gpu_is_the_published_paper_preset():
    sizes = gpu_check.sizes("cuda", "full")
    model, cfg = gpu_check.configs("paper", sizes)
    assert (model.resolution, model.width, cfg.batch_size) == (256, 64, 8)
    assert gpu_check.sizes("cpu", "full").cpu_timing is None and sizes.cpu_timing["batch"] == 2
