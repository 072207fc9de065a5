"""Borrowing a stage's latent from another artwork: ``WorkflowPipeline.borrow_latent`` and
``artworkflow generate --reference``."""
from __future__ import annotations

import contextlib
import json

import pytest
import torch

from artworkflow.cli import main
from artworkflow.data.images import load_image, save_image
from artworkflow.data.sample import DEMO_MODEL, bundled_sample_path
from artworkflow.generate import random_seed
from artworkflow.pipeline import WorkflowPipeline


@pytest.fixture(scope="module")
def pipe() -> WorkflowPipeline:
    return WorkflowPipeline.from_pretrained(DEMO_MODEL)


@pytest.fixture(scope="module")
def lines(pipe) -> torch.Tensor:
    files = sorted((bundled_sample_path() / "test" / "line").glob("*.png"))[:8]
    return torch.cat([pipe.load(f, "line") for f in files])


def test_borrowing_from_a_generated_artwork_recovers_its_stages(pipe, lines):
    """Each generated final stage, as a reference, gives latents that draw the workflow closer to it
    than random latents do, at every stage: for most items, and by far on average."""
    made = pipe.sample(lines, seed=3)
    zs = pipe.latents(len(lines), seed=3)
    for k in range(pipe.workflow.n_stages - 1):
        zs[k] = pipe.borrow_latent(k + 1, made[-1])
    assert zs[0].shape == (len(lines), pipe.workflow.model_config.nz)
    borrowed = pipe.generate(lines, zs)
    randoms = [pipe.sample(lines, seed=seed) for seed in (10, 11, 12)]
    for stage in range(1, pipe.workflow.n_stages):
        near = (borrowed[stage] - made[stage]).abs().mean(dim=(1, 2, 3))
        far = torch.stack([(r[stage] - made[stage]).abs().mean(dim=(1, 2, 3)) for r in randoms])
        assert float((near < far).float().mean()) >= 0.8 and float(near.mean()) < 0.7 * float(far.mean())


def test_fixed_latents_replace_the_random_ones_of_their_stage_only(pipe, lines):
    z = torch.full((1, pipe.workflow.model_config.nz), 0.5)
    plain, fixed = pipe.latents(4, seed=1), pipe.latents(4, seed=1, fixed={0: z})
    assert torch.equal(fixed[0], z.expand(4, -1)) and torch.equal(fixed[1], plain[1])
    variations = pipe.stage_variations(lines[:1], 1, 2, seed=1, fixed={0: z})
    assert not torch.equal(variations[0][2], variations[1][2])
    assert all(torch.equal(v[1], pipe.generate(lines[:1], [z, pipe.latents(1, seed=1)[1]])[1]) for v in variations)


def test_a_reference_of_other_channels_and_size_is_converted(pipe, tmp_path):
    shaded = sorted((bundled_sample_path() / "test" / "shaded").glob("*.png"))[0]
    colour = pipe.load(shaded, "shaded")
    grey = colour.mean(1, keepdim=True)
    big = torch.nn.functional.interpolate(grey, scale_factor=2, mode="nearest")[0]
    path = save_image(big, tmp_path / "grey-128.png")
    from_file = pipe.borrow_latent("flat", path)
    torch.testing.assert_close(from_file, pipe.borrow_latent("flat", grey.expand(-1, 3, -1, -1)),
                               rtol=0, atol=0.02)
    torch.testing.assert_close(pipe.borrow_latent("flat", big), from_file, rtol=0, atol=0.02)
    assert not torch.allclose(from_file, pipe.borrow_latent("flat", colour), atol=0.02)


@pytest.fixture(scope="module")
def line_file():
    return sorted((bundled_sample_path() / "test" / "line").glob("*.png"))[0]


@pytest.fixture(scope="module")
def reference_file():
    return sorted((bundled_sample_path() / "test" / "shaded").glob("*.png"))[5]


def test_generate_with_a_reference_draws_every_workflow_with_its_latent(pipe, line_file, reference_file, tmp_path,
                                                                        capsys):
    out = tmp_path / "g"
    assert main(["generate", "--input", str(line_file), "--reference", f"flat={reference_file}", "--variations", "2",
                 "--size", "model", "--out", str(out)]) == 0
    record = json.loads((out / "generation.json").read_text())
    assert record["references"] == {"flat": str(reference_file)} and record["seed"] == 0
    want = pipe.sample(pipe.load(line_file, "line"), random_seed(0, 1), {0: pipe.borrow_latent("flat", reference_file)})
    want = want[1][0]
    for k in (1, 2):
        got = load_image(out / f"workflow-{k}" / "flat.png", 3)
        assert (got - want).abs().max() <= 1 / 127.5 + 1e-6
    assert torch.equal(load_image(out / "workflow-1" / "flat.png", 3), load_image(out / "workflow-2" / "flat.png", 3))
    assert "draws 'flat' with the latent of that stage of" in capsys.readouterr().out


@pytest.mark.parametrize("value,message", [
    ("flat={bad}", "error: --reference flat={bad}: not an image file Pillow can read; save it as PNG, JPEG or WebP"),
    ("line={good}", "error: --reference line={good}: stage 'line' is the first stage"),
    ("flat", "error: artworkflow generate: argument --reference: expected STAGE=IMAGE"),
])
def test_a_bad_reference_is_refused_in_one_line_naming_the_option(line_file, reference_file, tmp_path, capsys,
                                                                  value, message):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    value, message = (s.format(bad=bad, good=reference_file) for s in (value, message))
    with pytest.raises(SystemExit) if "=" not in value else contextlib.nullcontext():
        assert main(["generate", "--input", str(line_file), "--reference", value, "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "g").exists()
