import numpy as np
from PIL import Image

from artworkflow.data.layout import SPLITS, read_spec
from artworkflow.data.sample import bundled_sample_path


def test_bundled_sample_is_a_complete_three_stage_dataset():
    root = bundled_sample_path()
    spec = read_spec(root)
    assert spec.names == ["line", "flat", "shaded"] and spec.channels == [1, 3, 3]
    assert (root / "LICENSE-fluent-emoji.txt").is_file() and (root / "README.md").is_file()
    total = 0
    for split in SPLITS:
        ids = {stage: sorted(p.stem for p in (root / split / stage).glob("*.png")) for stage in spec.names}
        first = ids[spec.names[0]]
        assert first, f"no {split} items"
        assert all(ids[s] == first for s in spec.names)
        total += len(first)
        for stage in spec.stages:
            for item in first:
                with Image.open(root / split / stage.name / f"{item}.png") as image:
                    assert image.size == (64, 64)
                    assert image.mode == ("L" if stage.channels == 1 else "RGB")
                    assert np.asarray(image).dtype == np.uint8
    assert 50 <= total <= 200
