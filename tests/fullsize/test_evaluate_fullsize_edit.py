"""The full-size editing measure: its numbers come from real edits and its files are written."""
from __future__ import annotations

import json

import torch

from artworkflow.cli import main
from artworkflow.evaluate_fullsize_edit import gradient_correlation


def test_gradient_correlation_tells_kept_lines_from_lost_ones():
    img = torch.ones(3, 64, 64)
    img[:, 20:40, 10:50] = -1
    blurred = torch.nn.functional.avg_pool2d(img[None], 9, 1, 4)[0]
    moved = torch.roll(img, 12, dims=2)
    assert gradient_correlation(img, img) > 0.999
    assert gradient_correlation(img, img * 0.5 + 0.2) > 0.999  # recoloured, same edges
    assert gradient_correlation(img, blurred) < 0.8 and gradient_correlation(img, moved) < 0.5


def test_evaluate_fullsize_edit_writes_its_results(tiny_run, toy_data, tmp_path, capsys):
    out = tmp_path / "e"
    assert main(["evaluate-fullsize-edit", "--model", str(tiny_run), "--data", str(toy_data), "--out", str(out),
                 "--seeds", "2", "--steps", "1", "--limit", "2"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["edits"] == 4 and len(results["edits"]) == 4
    assert all(-1 <= e["fullsize"] <= 1 and e["colour_l1_fullsize"] >= 0 for e in results["edits"])
    assert (out / "grid.png").is_file() and "gradient correlation" in (out / "results.md").read_text()
