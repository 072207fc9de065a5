"""`artworkflow demo`: one page that opens with creation and editing by the bundled model, then a
brief training run, every image and link of it on disk."""
from __future__ import annotations

import re

from artworkflow.demo import run_demo


def test_demo_page_shows_create_edit_then_training(tmp_path):
    page = run_demo(tmp_path / "demo", minutes=0.01)
    text = page.read_text()
    titles = re.findall(r"<h2>(.*?)</h2>", text)
    assert [t.split(":")[0] for t in titles] == ["Create", "Edit", "Train"]
    targets = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert any(t.startswith("create/stage-") for t in targets) and "edit/workflow.gif" in targets
    full_first = [t for t in re.findall(r'src="([^"]+)"', text) if t.startswith(("create/", "edit/"))]
    assert full_first[0] == "create/full-size.png" and targets.index("edit/full-decomposed.png") < targets.index(
        "edit/inferred.png")  # the full-size stages come before the model-size grids
    assert "256×256 px" in text and "create/workflow-1.ora" in targets and "create/workflow-1.psd" in targets
    assert "run/index.html" in targets and any(t.startswith("run/samples/step-") for t in targets)
    missing = [t for t in targets if not (page.parent / t).is_file()]
    assert not missing
    assert re.search(r"final-stage ℓ1 [0-9.]+ → [0-9.]+", text)


def test_the_bundled_model_is_small_and_its_regularisers_are_trained():
    """The demo model ships inside the package: under 15 MB, and its learned regularisers trained
    (the editing section of the demo uses them)."""
    from artworkflow.data.sample import DEMO_MODEL
    from artworkflow.workflow import Workflow

    assert sum(f.stat().st_size for f in DEMO_MODEL.iterdir()) < 15_000_000
    wf = Workflow.from_pretrained(DEMO_MODEL)
    assert all(int(n) > 0 for n in wf.regularizer_steps)
