"""The borrowing measure: its colour distance, and the command on the bundled model and sample."""
from __future__ import annotations

import json

import torch

from artworkflow.cli import main
from artworkflow.data.sample import DEMO_MODEL, bundled_sample_path
from artworkflow.evaluate_borrow import colour_distance, foreground


def blocks(*colours: tuple[float, float, float]) -> torch.Tensor:
    """A white 32 px image with one 8 px wide stripe per colour (values in [-1, 1])."""
    x = torch.ones(3, 32, 32)
    for i, c in enumerate(colours):
        x[:, 4:28, 8 * i:8 * i + 8] = torch.tensor(c).view(3, 1, 1)
    return x


def test_colour_distance_compares_the_colours_of_the_foreground_only():
    red, blue, green = (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0), (-1.0, 1.0, -1.0)
    a, b = blocks(red, blue), blocks(blue, red, red, blue)
    assert colour_distance(a, foreground(a), b, foreground(b)) == 0.0, "same colours in the same proportions"
    c = blocks(green)
    assert abs(colour_distance(a, foreground(a), c, foreground(c)) - 2.0) < 1e-6, "no colour in common"
    d = blocks(red, green)
    assert abs(colour_distance(a, foreground(a), d, foreground(d)) - 1.0) < 1e-6
    assert int(foreground(a).sum()) == 2 * 24 * 8
    assert colour_distance(a, torch.ones(32, 32, dtype=torch.bool), b, foreground(b)) > 0.5, "white counted"


def test_evaluate_borrow_writes_its_results(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["evaluate-borrow", "--model", str(DEMO_MODEL), "--data", str(bundled_sample_path()),
                 "--out", str(out), "--seeds", "2", "--limit", "8"]) == 0
    results = json.loads((out / "results.json").read_text())
    summary = results["summary"]
    assert summary["pairs"] == 8 and len(results["pairs"]) == 16 and set(summary["per_seed"]) == {"0", "1"}
    assert [p["reference"] for p in results["pairs"][:8]] == [1, 2, 3, 4, 5, 6, 7, 0]
    assert summary["share_mean"] >= 0.75, "the bundled model carries the reference's colours"
    assert all(0 <= p["borrowed"] <= 2 and 0 <= p["random"] <= 2 for p in results["pairs"])
    assert (out / "grid.png").is_file() and "| seed | share of pairs" in (out / "results.md").read_text()
    assert "closer to the reference than random" in capsys.readouterr().err
