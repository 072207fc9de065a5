"""Editing at the artwork's own size: the identity edit is the user's file, edits keep its detail, full-size
uploads are used as given, and every command writes its stages at the input's size."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from artworkflow.cli import main
from artworkflow.data.dataset import StageDataset
from artworkflow.data.images import load_image, save_image
from artworkflow.editing.session import EditSession
from artworkflow.fullsize.canvas import limit_size

H, W = 96, 160  # non-square, larger than the model's 64 px


@pytest.fixture(scope="module")
def items(toy_data) -> list[list[torch.Tensor]]:
    ds = StageDataset(toy_data, "test", resolution=64, train=False)
    return [[F.interpolate(s[None], size=(H, W), mode="nearest")[0] for s in ds[i]] for i in range(2)]


@pytest.fixture(scope="module")
def session(workflow, items) -> EditSession:
    return EditSession.from_artwork(workflow, items[0][-1], steps=2, progress=False, regularization=0.0)


def _gradient(img: torch.Tensor) -> np.ndarray:
    x = img.float().mean(0).numpy()
    return np.hypot(np.diff(x, axis=0)[:, :-1], np.diff(x, axis=1)[:-1])


def test_identity_edit_is_the_artwork_bit_for_bit(session, items):
    full = session.full_stages()
    assert torch.equal(full[-1], items[0][-1])
    assert [tuple(s.shape) for s in full] == [(1, H, W), (3, H, W), (3, H, W)]


def test_resample_keeps_the_artworks_detail_better_than_bicubic(session, items):
    session.resample("flat", 11)
    try:
        full = session.full_stages()
        art = items[0][-1]
        assert not torch.equal(full[-1], art)
        bicubic = F.interpolate(session.stages[-1], size=(H, W), mode="bicubic")[0].clamp(-1, 1)
        ours = np.corrcoef(_gradient(full[-1]).ravel(), _gradient(art).ravel())[0, 1]
        theirs = np.corrcoef(_gradient(bicubic).ravel(), _gradient(art).ravel())[0, 1]
        assert ours > theirs and ours > 0.5
    finally:
        session.undo()
    assert torch.equal(session.full_stages()[-1], items[0][-1])


def _disc_artwork() -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A shaded orange disc with a dark outline on white paper at 120×200, and made-up model stages."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 120), torch.linspace(-1.6, 1.6, 200), indexing="ij")
    r = (xx ** 2 + yy ** 2).sqrt()
    art = torch.ones(3, 120, 200)
    inside = r < 0.7
    art[:, inside] = (torch.tensor([0.9, 0.3, -0.6])[:, None] + 0.2 * yy[inside][None])
    art[:, (r >= 0.7) & (r < 0.78)] = -1.0
    small = F.interpolate(art[None], size=(64, 64), mode="area")[0]
    flat = small.clone()
    return art, [small.mean(0, keepdim=True), flat, small]


def test_an_edit_recolours_regions_and_leaves_the_paper():
    from artworkflow.fullsize.edit import FullSizeEdit
    art, model = _disc_artwork()
    full = FullSizeEdit.decompose(art, model, ["line", "region", "smooth"])
    assert torch.equal(full.stages(model)[-1], art)
    bluer = model[1] + torch.tensor([-0.8, 0.0, 0.8])[:, None, None]
    out = full.stages([model[0], bluer, model[2] + torch.tensor([-0.8, 0.0, 0.8])[:, None, None]])
    paper = full.paper
    assert paper[0, 0] and paper[:, :30].all() and not paper[60, 100]
    assert torch.equal(out[1][:, paper], full.base[1][:, paper])
    assert torch.equal(out[2][:, paper], art[:, paper])
    disc = out[1][:, 50:70, 90:110].reshape(3, -1)
    assert (disc.max(1).values - disc.min(1).values).max() < 1e-5  # one colour per region
    assert disc[2, 0] > full.base[1][2, 60, 100] + 0.5  # that follows the edit
    shaded = out[2]
    assert shaded[0, 40, 100] - shaded[0, 80, 100] < 0 and shaded[2, 60, 100] > art[2, 60, 100] + 0.5


def test_full_size_upload_is_used_as_given(session, items):
    flat = items[1][1]
    session.set_stage_image("flat", flat)
    try:
        full = session.full_stages()
        assert torch.equal(full[1], flat) and full[2].shape == (3, H, W)
        assert torch.equal(full[0], session.full.base[0])
    finally:
        session.undo()


def test_export_layers_writes_the_full_size_workflow(session, tmp_path):
    from psd_tools import PSDImage
    out = session.export_layers(tmp_path / "art.psd")
    assert PSDImage.open(out).size == (W, H)
    with pytest.raises(Exception, match="already exists"):
        session.export_layers(tmp_path / "art.psd")


def test_a_larger_image_is_shrunk_to_max_size_in_one_line():
    said = []
    out = limit_size(torch.zeros(1, 300, 4096), 2048, "big.png", said.append)
    assert tuple(out.shape) == (1, 150, 2048)
    assert len(said) == 1 and "--max-size" in said[0] and "\n" not in said[0]
    small = torch.zeros(1, 20, 30)
    assert limit_size(small, 2048, "x", said.append) is small and len(said) == 1


def test_generate_writes_every_stage_at_the_inputs_size(tiny_run, items, tmp_path, capsys):
    line = tmp_path / "line.png"
    save_image(items[0][0], line)
    assert main(["generate", "--model", str(tiny_run), "--input", str(line), "--out", str(tmp_path / "g"),
                 "--variations", "2"]) == 0
    for k in (1, 2):
        for name, c in (("sketch", 1), ("flat", 3), ("shaded", 3)):
            assert tuple(load_image(tmp_path / "g" / f"workflow-{k}" / f"{name}.png", c).shape) == (c, H, W)
    assert torch.equal(load_image(tmp_path / "g" / "workflow-1" / "sketch.png", 1), items[0][0])
    assert main(["generate", "--model", str(tiny_run), "--input", str(line), "--out", str(tmp_path / "m"),
                 "--variations", "1", "--size", "model"]) == 0
    assert load_image(tmp_path / "m" / "workflow-1" / "shaded.png", 3).shape == (3, 64, 64)


def test_generate_shrinks_a_4096_px_input_naming_max_size(tiny_run, tmp_path, capsys):
    line = tmp_path / "huge.png"
    save_image(torch.ones(1, 4096, 4096), line)
    assert main(["generate", "--model", str(tiny_run), "--input", str(line), "--out", str(tmp_path / "g"),
                 "--variations", "1", "--max-size", "256"]) == 0
    assert "--max-size" in capsys.readouterr().err
    assert load_image(tmp_path / "g" / "workflow-1" / "flat.png", 3).shape == (3, 256, 256)


def test_edit_writes_the_edited_workflow_at_the_artworks_size(tiny_run, items, tmp_path):
    art = tmp_path / "art.png"
    save_image(items[0][-1], art)
    assert main(["edit", "--model", str(tiny_run), "--input", str(art), "--out", str(tmp_path / "e"),
                 "--steps", "1", "--perceptual", "none", "--quiet"]) == 0
    assert (tmp_path / "e" / "stages" / "shaded.png").read_bytes() != b""
    assert torch.equal(load_image(tmp_path / "e" / "stages" / "shaded.png", 3), items[0][-1])
    assert load_image(tmp_path / "e" / "stages" / "sketch.png", 1).shape == (1, H, W)


def test_generate_and_edit_write_layered_files(tiny_run, items, tmp_path):
    from psd_tools import PSDImage
    line, art = tmp_path / "line.png", tmp_path / "art.png"
    save_image(items[0][0], line)
    save_image(items[0][-1], art)
    assert main(["generate", "--model", str(tiny_run), "--input", str(line), "--out", str(tmp_path / "g"),
                 "--variations", "2", "--layers", "ora,psd"]) == 0
    for k in (1, 2):
        final = load_image(tmp_path / "g" / f"workflow-{k}" / "shaded.png", 3)
        psd = PSDImage.open(tmp_path / "g" / f"workflow-{k}.psd")
        assert psd.size == (W, H) and (tmp_path / "g" / f"workflow-{k}.ora").is_file()
        flat = torch.from_numpy(np.asarray(psd.composite().convert("RGB"), dtype=np.float32)).permute(2, 0, 1)
        assert (flat / 127.5 - 1 - final).abs().max() <= 2 / 127.5
    assert main(["edit", "--model", str(tiny_run), "--input", str(art), "--out", str(tmp_path / "e"),
                 "--steps", "1", "--perceptual", "none", "--quiet", "--layers", "psd"]) == 0
    assert [layer.name for layer in PSDImage.open(tmp_path / "e" / "layers.psd")][:2] == ["flat", "shaded (shadow)"]


def test_a_bad_layers_value_is_refused_in_one_line(tiny_run, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--input", "x.png", "--out", str(tmp_path / "g"), "--layers", "tiff"])
    err = capsys.readouterr().err
    assert "--layers" in err and "ora and psd" in err and len(err.strip().splitlines()) == 1


def test_generate_names_every_workflows_seed_and_the_command_that_draws_it_again(tiny_run, items, tmp_path,
                                                                                 capsys):
    import json
    import shlex
    line = tmp_path / "line.png"
    save_image(items[0][0], line)
    assert main(["generate", "--model", str(tiny_run), "--input", str(line), "--out", str(tmp_path / "g"),
                 "--variations", "3"]) == 0
    records = json.loads((tmp_path / "g" / "workflows.json").read_text())
    assert [r["workflow"] for r in records] == [1, 2, 3] and len({r["seed"] for r in records}) == 3
    printed = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("workflow-2 ")]
    command = shlex.split(printed[0].split(": ", 1)[1])
    assert command[:2] == ["artworkflow", "generate"] and str(records[1]["seed"]) in command
    assert main(command[1:]) == 0
    again = tmp_path / f"g-seed-{records[1]['seed']}" / "workflow-1" / "shaded.png"
    assert torch.equal(load_image(again, 3), load_image(tmp_path / "g" / "workflow-2" / "shaded.png", 3))
