"""The README's Python examples run as written, on the session's tiny model, in a folder that holds
the files they name."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from artworkflow.data.dataset import StageDataset
from artworkflow.data.images import save_image

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_documents_editing_and_saving_from_python():
    code = "\n".join(python_blocks())
    for name in ("EditSession.from_artwork", ".resample(", ".set_stage_image(", ".borrow(", ".undo()",
                 ".export_strip(", ".export_gif(", "save_image("):
        assert name in code, name


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_the_readme_python_examples_run(index, tiny_run, toy_data, tmp_path, monkeypatch):
    test = StageDataset(toy_data, "test", resolution=64, train=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "x").symlink_to(tiny_run)
    save_image(test[0][0], "sketch.png")
    save_image(test[1][0], "redrawn-sketch.png")
    save_image(test[0][-1], "art.png")
    save_image(test[1][-1], "other-artwork.png")
    code = python_blocks()[index]
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {})
    written = re.findall(r'"(out/[\w.]+)"', code)
    assert all(Path(f).is_file() for f in written), written
