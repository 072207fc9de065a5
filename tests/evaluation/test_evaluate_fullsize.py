import json

import numpy as np
import pytest
from PIL import Image

from artworkflow.cli import main
from artworkflow.config import StageSpec, WorkflowSpec
from artworkflow.data.layout import write_spec
from artworkflow.data.sample import DEMO_MODEL

SIZE = 96


def write_items(root, split: str, count: int, seed: int) -> None:
    """Line art of a box around a disc of ink, and flat and shaded stages that colour them."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        a, b = rng.integers(8, 20, 2)
        line = np.full((SIZE, SIZE), 255, np.uint8)
        line[a:SIZE - b, a:SIZE - b] = 0
        line[a + 5:SIZE - b - 5, a + 5:SIZE - b - 5] = 255
        line[40:56, 40:56] = 0
        colour = rng.integers(0, 255, 3).astype(np.uint8)
        flat = np.full((SIZE, SIZE, 3), 255, np.uint8)
        flat[a:SIZE - b, a:SIZE - b] = colour
        flat[40:56, 40:56] = 255 - colour
        shaded = (flat * np.linspace(0.7, 1.0, SIZE)[:, None, None]).astype(np.uint8)
        for name, image in (("line", line), ("flat", flat), ("shaded", shaded)):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / split / name / f"item{i}.png")


@pytest.fixture(scope="module")
def large_data(tmp_path_factory):
    """A dataset of the bundled model's workflow at a larger size than the model's."""
    root = tmp_path_factory.mktemp("fluent96")
    write_spec(root, WorkflowSpec("fluent-emoji", (StageSpec("line", 1), StageSpec("flat", 3),
                                                   StageSpec("shaded", 3))))
    write_items(root, "train", 6, 0)
    write_items(root, "test", 3, 1)
    return root


def test_evaluate_fullsize_scores_both_methods_and_draws_grids(large_data, tmp_path):
    out = tmp_path / "eval"
    args = ["evaluate-fullsize", "--model", str(DEMO_MODEL), "--data", str(large_data), "--out", str(out),
            "--seeds", "2", "--quiet"]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["meta"]["test_items"] == 3 and res["meta"]["reference_items"] == 6 and res["meta"]["size"] == SIZE
    assert [r["stage"] for r in res["rows"]] == ["flat", "shaded"]
    for r in res["rows"]:
        assert len(r["bicubic_swd_per_seed"]) == len(r["fullsize_swd_per_seed"]) == 2
        assert r["floor_swd"] > 0 and r["bicubic_swd"] > 0 and r["fullsize_swd"] > 0
        assert r["ratio"] == pytest.approx(r["fullsize_swd"] / r["bicubic_swd"])
    md = (out / "results.md").read_text()
    assert "| flat |" in md and "| shaded |" in md
    for stage in ("flat", "shaded"):
        with Image.open(out / f"grid-{stage}.png") as grid:
            assert grid.width > 4 * SIZE and grid.height > 3 * SIZE
    assert main(args) == 2  # results of an earlier run are not replaced without --overwrite
