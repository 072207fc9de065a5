"""Files the user already has: an output never replaces a file the command did not write in this
run unless --overwrite is given, and a file in the way, a folder that cannot be written or a full
disk end in one line that says what and where, with everything written before left as it was."""
from __future__ import annotations

import errno
import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors import SafetensorError

import artworkflow
from artworkflow.cli import main
from artworkflow.data.dataset import StageDataset
from artworkflow.data.images import save_image
from artworkflow.train.checkpoint import latest_checkpoint
from artworkflow.workflow import Workflow

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def snapshot(*roots: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def one_line(capsys, start: str, *words: str) -> str:
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {start}"), err
    assert all(w in err for w in words), err
    return err


@pytest.fixture(scope="module")
def items(toy_data) -> list[list[torch.Tensor]]:
    ds = StageDataset(toy_data, "test", resolution=64, train=False)
    return [ds[i] for i in range(2)]


@pytest.fixture
def art(tmp_path, items) -> Path:
    """A user's folder holding their own 300×300 input.png."""
    folder = tmp_path / "mine"
    folder.mkdir()
    Image.fromarray(((items[0][-1].permute(1, 2, 0) + 1) * 127.5).byte().numpy()).resize((300, 300)).save(
        folder / "input.png")
    return folder / "input.png"


@pytest.fixture
def sketch(tmp_path, items) -> Path:
    return save_image(items[0][0], tmp_path / "sketch.png")


def edit(model: Path, image: Path, out: Path, *extra: str) -> list[str]:
    return ["edit", "--model", str(model), "--input", str(image), "--out", str(out), "--steps", "1",
            "--perceptual", "none", "--quiet", *extra]


def generate(model: Path, image: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "--model", str(model), "--input", str(image), "--out", str(out), "--variations", "2", *extra]


def test_edit_into_the_folder_of_its_input_keeps_the_input(tiny_run, art, capsys):
    before = snapshot(art.parent)
    assert main(edit(tiny_run, art, art.parent)) == 2
    one_line(capsys, f"{art}: already exists", "--overwrite")
    assert snapshot(art.parent) == before
    assert main(edit(tiny_run, art, art.parent, "--overwrite")) == 0
    assert Image.open(art).size == (64, 64) and (art.parent / "after.png").is_file()


def test_generate_and_edit_into_a_run_keep_its_page(tiny_run, sketch, art, tmp_path, capsys):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    before = snapshot(run)
    assert main(generate(run, sketch, run)) == 2
    one_line(capsys, f"{run / 'index.html'}: already exists", "--overwrite")
    assert main(edit(run, art, run)) == 2
    one_line(capsys, f"{run}/", "already exists", "--overwrite")
    assert snapshot(run) == before


def test_a_second_generate_into_the_same_folder_is_refused(tiny_run, sketch, tmp_path, capsys):
    out = tmp_path / "g"
    assert main(generate(tiny_run, sketch, out)) == 0
    capsys.readouterr()
    first = snapshot(out)
    assert main(generate(tiny_run, sketch, out, "--seed", "4")) == 2
    one_line(capsys, f"{out}/", "already exists", "--overwrite")
    assert snapshot(out) == first
    assert main(generate(tiny_run, sketch, out, "--seed", "4", "--overwrite")) == 0
    assert snapshot(out) != first


@pytest.mark.parametrize("where", ["sub-folder", "file"])
def test_overwrite_writes_nothing_through_a_link_in_out(where, tiny_run, art, tmp_path, capsys):
    """A link inside --out to elsewhere (a folder the edit writes into, or one of its files) is refused
    before any work: nothing outside --out, nor in it, changes."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "shaded.png").write_bytes(b"someone else's image")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    link = out / "after" if where == "sub-folder" else out / "index.html"
    link.symlink_to(elsewhere if where == "sub-folder" else elsewhere / "shaded.png")
    before = snapshot(elsewhere), snapshot(out)
    assert main(edit(tiny_run, art, out, "--overwrite")) == 2
    one_line(capsys, f"{link}: is a symbolic link (to {elsewhere}", "remove it or choose another --out folder")
    assert (snapshot(elsewhere), snapshot(out)) == before and link.is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["after" if where == "sub-folder" else "index.html", "notes.txt"]


def test_out_may_be_a_link_to_a_folder_but_not_to_nothing(tiny_run, art, tmp_path, capsys):
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "out").symlink_to(target)
    assert main(edit(tiny_run, art, tmp_path / "out")) == 0
    assert (target / "after" / "shaded.png").is_file() and (tmp_path / "out").is_symlink()
    capsys.readouterr()
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert main(edit(tiny_run, art, tmp_path / "dangling")) == 2
    one_line(capsys, f"{tmp_path / 'dangling'}: is a symbolic link to {tmp_path / 'gone'}, which does not exist")
    assert not (tmp_path / "gone").exists()


def command(kind: str, run: Path, data: Path, image: Path, out: Path) -> list[str]:
    if kind == "generate":
        return generate(run, image, out)
    if kind == "edit":
        return edit(run, image, out)
    if kind == "evaluate":
        return ["evaluate", "--model", str(run), "--data", str(data), "--out", str(out), "--steps", "1", "--trials",
                "1", "--limit", "2", "--variants", "none", "--perceptual", "none", "--quiet"]
    if kind == "toy":
        return ["dataset", "toy", "--out", str(out), "--count", "2", "--overwrite"]
    return ["train", "--data", str(data), "--out", str(out), "--max-steps", "4", "--quiet", "--device", "cpu"]


KINDS = ["generate", "edit", "evaluate", "toy", "train"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_existing_file_as_out_is_one_line(kind, tiny_run, toy_data, sketch, art, tmp_path, capsys):
    out = tmp_path / "results"
    out.write_text("my results")
    assert main(command(kind, tiny_run, toy_data, art if kind == "edit" else sketch, out)) == 2
    one_line(capsys, f"{out}: ", "not a folder")
    assert out.read_text() == "my results"


def refuse_writes_under(monkeypatch, folder: Path, error: OSError) -> None:
    """Every file or folder created under ``folder`` fails with ``error``: a read-only or a full disk."""
    real_open, real_mkdir = Image.Image.save, Path.mkdir

    def save(self, fp, *a, **kw):
        if Path(fp).resolve().is_relative_to(folder.resolve()):
            raise OSError(error.errno, error.strerror, str(fp))
        return real_open(self, fp, *a, **kw)

    def mkdir(self, *a, **kw):
        if self.resolve().is_relative_to(folder.resolve()) and self.resolve() != folder.resolve():
            raise OSError(error.errno, error.strerror, str(self))
        return real_mkdir(self, *a, **kw)

    monkeypatch.setattr(Image.Image, "save", save)
    monkeypatch.setattr(Path, "mkdir", mkdir)


@pytest.mark.parametrize("error", [OSError(errno.EACCES, "Permission denied"), ENOSPC], ids=["read-only", "full"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_folder_that_cannot_be_written_is_one_line(kind, error, tiny_run, toy_data, sketch, art, tmp_path, capsys,
                                                     monkeypatch):
    """Simulated: the tests may run as root, for whom permissions do not stop a write."""
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    if kind == "train":
        out = out / "run"
    refuse_writes_under(monkeypatch, tmp_path / "results", error)
    assert main(command(kind, tiny_run, toy_data, art if kind == "edit" else sketch, out)) == 2
    reason = "permission denied" if error.errno == errno.EACCES else "no space left"
    one_line(capsys, f"{tmp_path / 'results'}", f"cannot write ({reason}")
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["notes.txt"]


def test_a_failed_edit_leaves_no_half_written_folder(tiny_run, art, tmp_path, monkeypatch, capsys):
    """The disk fills up after several of the edit's images were written: no output folder is left,
    and no staging folder either."""
    real, calls = Image.Image.save, []

    def save(self, fp, *a, **kw):
        calls.append(fp)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(fp))
        return real(self, fp, *a, **kw)

    monkeypatch.setattr(Image.Image, "save", save)
    out = tmp_path / "new" / "edit"
    assert main(edit(tiny_run, art, out, "--resample", "flat:1", "--regularization", "none")) == 2  # no note
    one_line(capsys, f"{out}/", "no space left", "free some space")
    assert len(calls) == 5 and not out.exists() and list((tmp_path / "new").iterdir()) == []


@pytest.mark.parametrize("failure", ["safetensors", "torch.save"])
def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint(failure, toy_data, tmp_path, monkeypatch, capsys):
    """safetensors and torch.save report a full disk in their own words; both become one line, the
    checkpoint before stays complete and no temporary folder is left."""
    import artworkflow.train.checkpoint as checkpoint
    import artworkflow.workflow as workflow
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  checkpoint_every: 2\n  sample_every: 1000\n")
    run = tmp_path / "run"
    saves = []
    real_st, real_torch = workflow.save_file, checkpoint.torch.save

    def full_st(state, path, *a, **kw):
        saves.append(path)
        if len(saves) > 2:
            raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                                  '"No space left on device" })')
        return real_st(state, path, *a, **kw)

    def full_torch(obj, path, *a, **kw):
        saves.append(path)
        if len(saves) > 1:
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 2112 vs 2008")
        return real_torch(obj, path, *a, **kw)

    if failure == "safetensors":
        monkeypatch.setattr(workflow, "save_file", full_st)
    else:
        monkeypatch.setattr(checkpoint.torch, "save", full_torch)
    assert main(["train", "--data", str(toy_data), "--out", str(run), "--max-steps", "6", "--config", str(cfg),
                 "--quiet", "--device", "cpu"]) == 2
    err = one_line(capsys, f"{run}", "cannot write", "step-00000002 is intact", "--resume")
    assert ("no space left" if failure == "safetensors" else "cut short") in err
    monkeypatch.undo()
    assert latest_checkpoint(run).name == "step-00000002"
    assert not list((run / "checkpoints").glob(".*"))
    Workflow.from_pretrained(latest_checkpoint(run) / "model")


def test_train_regularizer_refuses_the_bundled_model(capsys):
    bundled = Path(artworkflow.__file__).parent / "assets" / "demo-model"
    before = snapshot(bundled)
    assert main(["train-regularizer", "--model", str(bundled), "--stage", "1", "--samples", "1", "--inner-steps",
                 "2", "--perceptual", "none", "--quiet"]) == 2
    one_line(capsys, f"{bundled}: ", "bundled", "copy it first")
    assert snapshot(bundled) == before


def test_train_regularizer_replaces_only_the_weights_and_atomically(tiny_run, tmp_path, monkeypatch, capsys):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "model" / "NOTES.md").write_text("where this model came from")
    weights = run / "model" / "model.safetensors"
    argv = ["train-regularizer", "--model", str(run), "--stage", "flat", "--samples", "1", "--inner-steps", "2",
            "--perceptual", "none", "--quiet"]
    import artworkflow.workflow as workflow
    real = workflow.save_file

    def full(state, path, *a, **kw):
        real(state, path, *a, **kw)
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull })")

    monkeypatch.setattr(workflow, "save_file", full)
    before = weights.read_bytes()
    assert main(argv) == 2
    one_line(capsys, f"{weights}: cannot write (no space left", "left as it was")
    assert weights.read_bytes() == before and sorted(p.name for p in (run / "model").iterdir()) == [
        "NOTES.md", "config.json", "discriminators.safetensors", "model.safetensors"]
    monkeypatch.undo()
    assert main(argv) == 0
    assert (run / "model" / "NOTES.md").read_text() == "where this model came from"
    assert int(Workflow.from_pretrained(run).regularizer_steps[0]) == 1
    assert torch.equal(Workflow.from_pretrained(run).generators[0].mlp.net[-1].weight,
                       Workflow.from_pretrained(tiny_run).generators[0].mlp.net[-1].weight)
