import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from artworkflow.config import StageSpec, WorkflowSpec
from artworkflow.data.dataset import StageDataset, collate_stages, default_load_size
from artworkflow.data.images import load_image, resize
from artworkflow.data.layout import stage_dir, write_spec
from artworkflow.errors import ConfigError, ImageError

SPEC = WorkflowSpec("same", (StageSpec("grey", 1), StageSpec("colour", 3)))


def _same_content_dataset(root, n=6, size=40):
    """Both stages show the same random picture: once grey, once with that grey in all three channels,
    so any crop or flip applied differently to the two stages shows up as a mismatch."""
    write_spec(root, SPEC)
    rng = np.random.default_rng(1)
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
        for stage, img in (("grey", Image.fromarray(pixels, "L")),
                           ("colour", Image.fromarray(np.stack([pixels] * 3, axis=2), "RGB"))):
            stage_dir(root, "train", stage).mkdir(parents=True, exist_ok=True)
            img.save(stage_dir(root, "train", stage) / f"{i:02d}.png")
    return root


@pytest.fixture
def root(tmp_path):
    return _same_content_dataset(tmp_path)


def _items(ds):
    return [ds[i] for i in range(len(ds))]


def test_same_crop_and_flip_for_every_stage(root):
    ds = StageDataset(root, resolution=32, load_size=40)
    assert ds.spec == SPEC and ds.ids == [f"{i:02d}" for i in range(6)]
    for epoch in range(4):
        ds.set_epoch(epoch)
        for grey, colour in _items(ds):
            assert grey.shape == (1, 32, 32) and colour.shape == (3, 32, 32)
            for c in range(3):
                assert torch.allclose(colour[c], grey[0], atol=1e-5)


def test_crops_and_flips_vary(root):
    ds = StageDataset(root, resolution=32, load_size=40)
    full = load_image(ds.paths(0)[0], 1)
    seen = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        crop = ds[0][0]
        for top in range(9):
            for left in range(9):
                window = full[:, top:top + 32, left:left + 32]
                if torch.equal(crop, window):
                    seen.add((top, left, False))
                elif torch.equal(crop, window.flip(-1)):
                    seen.add((top, left, True))
    assert len(seen) > 3
    assert {flipped for _, _, flipped in seen} == {False, True}


def test_no_flip_option(root):
    ds = StageDataset(root, resolution=32, load_size=40, flip=False)
    full = load_image(ds.paths(2)[0], 1)
    for epoch in range(6):
        ds.set_epoch(epoch)
        crop = ds[2][0]
        assert any(torch.equal(crop, full[:, t:t + 32, l:l + 32]) for t in range(9) for l in range(9))


def test_deterministic_per_seed_epoch_and_index(root):
    a = StageDataset(root, resolution=32, seed=3)
    b = StageDataset(root, resolution=32, seed=3)
    a.set_epoch(5)
    b.set_epoch(5)
    for x, y in zip(_items(a), _items(b)):
        assert all(torch.equal(s, t) for s, t in zip(x, y))
    before = _items(a)
    a.set_epoch(6)
    after = _items(a)
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(before, after))
    c = StageDataset(root, resolution=32, seed=4)
    c.set_epoch(5)
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(before, _items(c)))


def test_an_item_of_a_given_epoch_leaves_the_dataset_as_it_was(root):
    """The training loader asks for (index, epoch) pairs: nothing about the dataset changes."""
    ds = StageDataset(root, resolution=32, seed=3)
    ds.set_epoch(1)
    picked = ds.item(4, epoch=7)
    assert ds.epoch == 1
    ds.set_epoch(7)
    assert all(torch.equal(a, b) for a, b in zip(picked, ds[4]))
    assert any(not torch.equal(a, b) for a, b in zip(picked, ds.item(4, epoch=8)))


def test_worker_processes_give_the_same_items(root):
    ds = StageDataset(root, resolution=32)
    ds.set_epoch(2)
    main = [ds[i] for i in range(len(ds))]
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_stages)
    batches = list(loader)
    for s in range(2):
        assert torch.equal(torch.cat([b[s] for b in batches]), torch.stack([m[s] for m in main]))


def test_eval_mode_resizes_without_augmentation(root):
    ds = StageDataset(root, resolution=32, train=False)
    grey, colour = ds[1]
    expected = resize(load_image(ds.paths(1)[0], 1), 32)
    assert torch.equal(grey, expected)
    ds.set_epoch(9)
    assert torch.equal(ds[1][0], expected)
    assert colour.shape == (3, 32, 32)


def test_collate_and_defaults(root):
    ds = StageDataset(root, resolution=32)
    assert ds.load_size == default_load_size(32) == 36
    batch = collate_stages([ds[0], ds[1], ds[2]])
    assert [tuple(b.shape) for b in batch] == [(3, 1, 32, 32), (3, 3, 32, 32)]
    assert batch[0].min() >= -1 and batch[0].max() <= 1
    with pytest.raises(ValueError):
        collate_stages([])
    with pytest.raises(ConfigError):
        StageDataset(root, resolution=32, load_size=30)


def test_broken_image_error_names_the_file(root):
    ds = StageDataset(root, resolution=32)
    broken = ds.paths(3)[1]
    broken.write_bytes(b"")
    with pytest.raises(ImageError, match=broken.name):
        ds[3]
