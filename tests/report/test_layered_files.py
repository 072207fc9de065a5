"""Layered files (.ora, .psd): what each independent reader composites from the visible layers is the
final stage; the layers are named and stacked as documented; every stage's full image is in the file,
hidden; the line layer is shown only where the final stage carries the lines; refusals are one line.
A real editor (Debian's Krita under Xvfb) flattens both files where it is installed."""
from __future__ import annotations

import errno
import io
import shutil
import subprocess
import sys
import zipfile
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image
from psd_tools import PSDImage
from psd_tools.constants import BlendMode

from artworkflow.errors import ConfigError, OutputError
from artworkflow.report import layers as layer_files
from artworkflow.report.layers import build_stack, carries_lines, write_layers

H, W = 30, 40
NAMES = ["sketch", "flat", "shaded", "lit"]
KINDS = ["line", "region", "smooth", "smooth"]
TOLERANCE = 2  # of 255, per channel


def _workflow(n: int, carried: bool = True) -> list[torch.Tensor]:
    """Line art (a cross splitting four regions), flat colours, a shading that darkens the left and
    lightens the right (some channels of a pixel darker, others lighter), then a light spot. With
    ``carried`` the colour stages have the ink drawn in, as in a cartoon; without it they have none."""
    y, x = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    ink = ((x - 0.5).abs() < 0.04) | ((y - 0.5).abs() < 0.05)
    line = torch.where(ink, 0.05, 1.0)[None]
    colours = torch.tensor([[0.9, 0.3, 0.2], [0.2, 0.6, 0.9], [0.95, 0.9, 0.4], [0.3, 0.8, 0.3]])
    flat = colours[(x > 0.5).long() + 2 * (y > 0.5).long()].permute(2, 0, 1)
    shaded = (flat * (0.5 + x) * torch.tensor([1.0, 0.9, 1.1])[:, None, None]).clamp(0, 1)
    spot = 0.7 * torch.exp(-((x - 0.8) ** 2 + (y - 0.25) ** 2) / 0.03) * torch.tensor([1.0, 0.9, 0.5])[:, None, None]
    lit = 1 - (1 - shaded) * (1 - spot)
    colour = [flat, shaded, lit][: n - 1]
    if carried:
        colour = [c * line for c in colour]
    return [s * 2 - 1 for s in (line, *colour)]


def _rgb8(stage: torch.Tensor) -> np.ndarray:
    arr = ((stage.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def _error(image: Image.Image | np.ndarray, stage: torch.Tensor) -> int:
    shown = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=int)
    return int(np.abs(shown - _rgb8(stage).astype(int)).max())


def _ora_stack(path) -> tuple[ET.Element, zipfile.ZipFile]:
    archive = zipfile.ZipFile(path)
    return ET.fromstring(archive.read("stack.xml")).find("stack"), archive


def _ora_composite(path) -> np.ndarray:
    """The visible layers of an OpenRaster file composited bottom up as its stack.xml says:
    svg:src-over, svg:multiply and svg:screen with opacity, on opaque layers; hidden ones skipped."""
    stack, archive = _ora_stack(path)
    shown = np.ones((H, W, 3))
    for element in reversed(list(stack)):
        if element.get("visibility") == "hidden":
            continue
        assert element.tag == "layer", "a visible group would need a group compositor"
        rgba = np.asarray(Image.open(io.BytesIO(archive.read(element.get("src")))).convert("RGBA"), float) / 255
        assert (rgba[..., 3] == 1).all()
        src, op = rgba[..., :3], element.get("composite-op", "svg:src-over")
        blended = {"svg:src-over": src, "svg:multiply": shown * src, "svg:screen": shown + src - shown * src}[op]
        shown = shown + float(element.get("opacity", 1)) * (blended - shown)
    return np.round(shown * 255)


@pytest.mark.parametrize("n", [3, 4])
def test_ora_composites_to_the_final_stage(tmp_path, n):
    stages = _workflow(n)
    path = write_layers(tmp_path / "art.ora", stages, NAMES[:n], KINDS[:n])
    archive = zipfile.ZipFile(path)
    first = archive.infolist()[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
    assert archive.read("mimetype") == b"image/openraster"
    assert _error(Image.open(io.BytesIO(archive.read("mergedimage.png"))), stages[-1]) <= TOLERANCE
    assert _error(_ora_composite(path), stages[-1]) <= TOLERANCE
    thumbnail = Image.open(io.BytesIO(archive.read("Thumbnails/thumbnail.png")))
    assert max(thumbnail.size) <= 256


@pytest.mark.parametrize("n", [3, 4])
def test_psd_composites_to_the_final_stage(tmp_path, n):
    stages = _workflow(n)
    psd = PSDImage.open(write_layers(tmp_path / "art.psd", stages, NAMES[:n], KINDS[:n]))
    assert psd.size == (W, H)
    assert _error(psd.composite(), stages[-1]) <= TOLERANCE
    assert _error(psd.composite(ignore_preview=True), stages[-1]) <= TOLERANCE


@pytest.mark.parametrize("lines", [True, False])
def test_the_rounding_bound_holds_on_noise(tmp_path, lines):
    """Random stages, every pixel darker in some channels and lighter in others, under a random line
    layer forced on or off: the 8-bit layers still composite to the final stage within 1/255."""
    generator = torch.Generator().manual_seed(3)
    stages = [torch.rand(c, H, W, generator=generator) * 2 - 1 for c in (1, 3, 3, 3)]
    kinds = ["line", "smooth", "region", "smooth"]
    assert _error(build_stack(stages, NAMES, kinds, lines).composite, stages[-1]) <= 1
    assert _error(_ora_composite(write_layers(tmp_path / "n.ora", stages, NAMES, kinds, lines)), stages[-1]) <= 1


def test_layers_are_named_and_stacked_as_documented(tmp_path):
    stages = _workflow(4)
    stack, _ = _ora_stack(write_layers(tmp_path / "art.ora", stages, NAMES, KINDS))
    top_first = [(e.get("name"), e.get("composite-op")) for e in stack]
    assert top_first == [("stage images", "svg:src-over"), ("sketch", "svg:multiply"), ("lit (light)", "svg:screen"),
                         ("lit (shadow)", "svg:multiply"), ("shaded (light)", "svg:screen"),
                         ("shaded (shadow)", "svg:multiply"), ("flat", "svg:src-over")]
    psd = PSDImage.open(write_layers(tmp_path / "art.psd", stages, NAMES, KINDS))
    assert [(layer.name, layer.blend_mode) for layer in psd][:6] == [
        ("flat", BlendMode.NORMAL), ("shaded (shadow)", BlendMode.MULTIPLY), ("shaded (light)", BlendMode.SCREEN),
        ("lit (shadow)", BlendMode.MULTIPLY), ("lit (light)", BlendMode.SCREEN), ("sketch", BlendMode.MULTIPLY)]
    assert psd[6].name == "stage images" and psd[6].is_group()
    layers = {layer.name: layer for layer in build_stack(stages, NAMES, KINDS).layers}
    assert (layers["shaded (shadow)"].pixels < 255).any() and (layers["shaded (light)"].pixels > 0).any()
    assert (layers["lit (light)"].pixels > 0).any()


def test_every_stage_is_in_the_file_as_a_hidden_layer(tmp_path):
    stages = _workflow(4)
    stack, archive = _ora_stack(write_layers(tmp_path / "art.ora", stages, NAMES, KINDS))
    group = stack.find("stack[@name='stage images']")
    assert group.get("visibility") == "hidden"
    assert [e.get("name") for e in group] == [f"{n} (full image)" for n in reversed(NAMES)]
    for element, stage in zip(reversed(list(group)), stages):
        assert element.get("visibility") == "hidden"
        assert _error(Image.open(io.BytesIO(archive.read(element.get("src")))), stage) == 0
    psd_group = PSDImage.open(write_layers(tmp_path / "art.psd", stages, NAMES, KINDS))[-1]
    assert not psd_group.visible and [layer.name for layer in psd_group] == [f"{n} (full image)" for n in NAMES]
    for layer, stage in zip(psd_group, stages):
        assert not layer.visible and _error(layer.topil(), stage) == 0


def test_line_layer_is_shown_only_where_the_final_stage_carries_the_lines(tmp_path):
    for carried in (True, False):
        stages = _workflow(3, carried)
        assert carries_lines(_rgb8(stages[0]), _rgb8(stages[-1])) is carried
        stack, _ = _ora_stack(path := write_layers(tmp_path / f"{carried}.ora", stages, NAMES[:3], KINDS[:3]))
        assert stack.find("layer[@name='sketch']").get("visibility") == ("visible" if carried else "hidden")
        assert _error(_ora_composite(path), stages[-1]) <= TOLERANCE
        psd = PSDImage.open(write_layers(tmp_path / f"{carried}.psd", stages, NAMES[:3], KINDS[:3]))
        assert psd[3].name == "sketch" and psd[3].visible is carried
        assert _error(psd.composite(ignore_preview=True), stages[-1]) <= TOLERANCE
    hidden = build_stack(_workflow(3, carried=True), NAMES[:3], KINDS[:3], lines=False)
    assert not hidden.layers[-1].visible and _error(hidden.composite, _workflow(3)[-1]) <= TOLERANCE


def test_two_stages_and_a_second_stage_that_is_not_flat_colour(tmp_path):
    stages = _workflow(4)
    two = build_stack(stages[:2], NAMES[:2], KINDS[:2])
    assert [(layer.name, layer.mode) for layer in two.layers] == [("flat", "normal"), ("sketch", "multiply")]
    assert _error(_ora_composite(write_layers(tmp_path / "two.ora", stages[:2], NAMES[:2], KINDS[:2])),
                  stages[1]) <= TOLERANCE
    smooth = ["line", "smooth", "smooth"]
    picked = [stages[0], stages[2], stages[3]]
    layers = [(layer.name, layer.mode) for layer in build_stack(picked, ["sketch", "shaded", "lit"], smooth).layers]
    assert layers == [("shaded", "normal"), ("lit (shadow)", "multiply"), ("lit (light)", "screen"),
                      ("sketch", "multiply")]
    path = write_layers(tmp_path / "smooth.ora", picked, ["sketch", "shaded", "lit"], smooth)
    assert _error(_ora_composite(path), stages[3]) <= TOLERANCE


@pytest.mark.parametrize("suffix,module,package", [(".ora", "pyora", "pyora"), (".psd", "psd_tools", "psd-tools")])
def test_a_missing_library_says_how_to_install_it(tmp_path, monkeypatch, suffix, module, package):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError, match=rf"needs the {package} package; install it with pip install") as err:
        write_layers(tmp_path / f"art{suffix}", _workflow(3), NAMES[:3], KINDS[:3])
    assert "\n" not in str(err.value) and list(tmp_path.iterdir()) == []


def test_refuses_other_suffixes_existing_files_links_and_mismatched_input(tmp_path):
    stages = _workflow(3)
    with pytest.raises(ConfigError, match=r"art.png: layered files are .ora \(OpenRaster\) or .psd"):
        write_layers(tmp_path / "art.png", stages, NAMES[:3], KINDS[:3])
    kept = tmp_path / "kept.psd"
    kept.write_bytes(b"mine")
    with pytest.raises(OutputError, match="already exists; pass overwrite=True"):
        write_layers(kept, stages, NAMES[:3], KINDS[:3])
    assert kept.read_bytes() == b"mine"
    link = tmp_path / "link.ora"
    link.symlink_to(kept)
    with pytest.raises(OutputError, match="is a symbolic link"):
        write_layers(link, stages, NAMES[:3], KINDS[:3], overwrite=True)
    assert kept.read_bytes() == b"mine" and link.is_symlink()
    with pytest.raises(ConfigError, match="3 stage images, 2 names"):
        write_layers(tmp_path / "n.ora", stages, NAMES[:2], KINDS[:3])
    with pytest.raises(ConfigError, match="'shading' is no stage kind"):
        write_layers(tmp_path / "n.ora", stages, NAMES[:3], ["line", "region", "shading"])
    with pytest.raises(ConfigError, match="differ in size"):
        write_layers(tmp_path / "n.ora", [stages[0], stages[1][:, :20]], NAMES[:2], KINDS[:2])
    write_layers(kept, stages, NAMES[:3], KINDS[:3], overwrite=True)
    assert PSDImage.open(kept).size == (W, H)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.psd", "link.ora"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    def full_disk(stack, out, library):
        out.write(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    kept = tmp_path / "art.ora"
    kept.write_bytes(b"mine")
    monkeypatch.setattr(layer_files, "_write_ora", full_disk)
    with pytest.raises(OutputError, match="art.ora: cannot write \\(no space left on the device\\)"):
        write_layers(kept, _workflow(3), NAMES[:3], KINDS[:3], overwrite=True)
    assert kept.read_bytes() == b"mine" and list(tmp_path.iterdir()) == [kept]


def test_krita_flattens_both_files_to_the_final_stage(tmp_path):
    if not (shutil.which("krita") and shutil.which("xvfb-run")):
        pytest.skip("the editor test needs Debian's krita and xvfb (apt-get install -y krita xvfb)")
    stages = _workflow(4)
    for suffix in (".ora", ".psd"):
        path = write_layers(tmp_path / f"art{suffix}", stages, NAMES, KINDS)
        flat = tmp_path / f"flat{suffix}.png"
        subprocess.run(["xvfb-run", "-a", "krita", str(path), "--export", "--export-filename", str(flat)],
                       capture_output=True, timeout=120, check=False)
        assert flat.is_file(), f"Krita did not export {path.name}"
        assert _error(Image.open(flat), stages[-1]) <= TOLERANCE
