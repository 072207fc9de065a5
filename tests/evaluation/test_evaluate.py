import json
import re

import pytest
import torch

from artworkflow.cli import main
from artworkflow.editing.reconstruct import reconstruct
from artworkflow.evaluate import VARIANTS, resample_random_stage, stage_preservation
from artworkflow.workflow import Workflow


def test_the_command_line_offers_exactly_the_evaluated_variants():
    from artworkflow.cli.entry import build_parser
    evaluate_parser = build_parser()._subparsers._group_actions[0].choices["evaluate"]
    (variants,) = [a for a in evaluate_parser._actions if a.dest == "variants"]
    assert variants.choices == list(VARIANTS) and len(VARIANTS) == 6


@pytest.mark.parametrize("command", ["edit", "train-regularizer", "evaluate"])
def test_every_optimising_command_has_one_perceptual_convention(command):
    from artworkflow.cli.entry import build_parser
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    (flag,) = [a for a in sub._actions if a.dest == "perceptual"]
    assert flag.choices == ["auto", "vgg16", "none"] and flag.default == "auto"


def test_evaluate_end_to_end(tiny_run, toy_data, tmp_path):
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(tiny_run), "--data", str(toy_data), "--out", str(out),
                 "--steps", "2", "--trials", "2", "--limit", "4", "--perceptual", "none"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert [r["variant"] for r in res["rows"]] == list(VARIANTS)
    for r in res["rows"]:
        for k in ("l1", "recon_swd", "edit_swd_mean", "edit_swd_std", "preservation_l1_mean"):
            assert isinstance(r[k], float) and r[k] == r[k], (r["variant"], k)
    rows = {r["variant"]: r for r in res["rows"]}
    assert rows["none"]["l1"] == rows["none"]["l1_before"]
    assert rows["adain"]["l1"] < rows["none"]["l1"]
    md = (out / "results.md").read_text()
    assert "Table 1" in md and "Table 2" in md and "adain_lr" in md
    assert res["meta"]["amp"] == "none" and "precision: float32" in md
    pairs = [(c["a"], c["b"], c["metric"]) for c in res["comparisons"]]
    assert len(pairs) == 9 and ("adain_lr", "adain", "reconstruction ℓ1") in pairs and ("adain", "z", "edit SWD") in pairs
    for c in res["comparisons"]:
        assert c["low"] <= c["difference"] <= c["high"] or c["metric"] == "edit SWD", c
        assert c["units"] == (4 if c["metric"] == "reconstruction ℓ1" else 8)
        assert c["sentence"] in md and ("significant" in c["sentence"])
    assert set(res["diversity"]) == {"flat", "shaded"}
    assert all(r["l1_real"] > 0 and r["l1_relative"] >= 0 for r in res["diversity"].values())
    assert "Diversity" in md and res["meta"]["seconds"] > 0
    gen = res["generation"]
    assert gen["generated_swd"] > 0 and set(gen) >= {"inference_l1_sketch", "inference_l1_flat"}

    out16 = tmp_path / "eval-bf16"
    assert main(["evaluate", "--model", str(tiny_run), "--data", str(toy_data), "--out", str(out16), "--steps", "2",
                 "--trials", "1", "--limit", "4", "--perceptual", "none", "--variants", "adain", "--amp", "bf16"]) == 0
    res16 = json.loads((out16 / "results.json").read_text())
    assert res16["meta"]["amp"] == "bf16"
    l1 = res16["rows"][0]["l1"]
    assert l1 != rows["adain"]["l1"] and abs(l1 - rows["adain"]["l1"]) < 0.02


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_resample_changes_only_from_the_chosen_stage(tiny_run, toy_data, amp):
    from artworkflow.evaluate import load_split
    wf = Workflow.from_pretrained(tiny_run)
    test = load_split(toy_data, "test", 64, 4)
    rec = reconstruct(wf, test[-1], method="none", amp=amp)
    edited, chosen = resample_random_stage(wf, rec, seed=1, amp=amp)
    for b in range(4):
        k = int(chosen[b])
        for s in range(k + 1):
            assert torch.equal(edited[s][b], rec.stages[s][b])
        assert not torch.equal(edited[k + 1][b], rec.stages[k + 1][b])
    kept = stage_preservation(wf, rec.stages, rec.stages[-1], torch.zeros(4, dtype=torch.long))
    assert len(kept) == 4 and min(kept) >= 0


def test_toy_coverage_reads_the_true_alternatives(tiny_run, tmp_path):
    from artworkflow.data.toy import make_toy_dataset
    from artworkflow.evaluate import load_split, toy_coverage
    data = make_toy_dataset(tmp_path / "toy", stages=3, size=64, count=4, test_count=2, alternatives=3)
    wf = Workflow.from_pretrained(tiny_run)
    got = toy_coverage(wf, data, load_split(data, "test", 64, None))
    assert set(got) == {"flat", "shaded"}
    assert all(c["true_spread"] > 0.01 and c["coverage"] >= 0 for c in got.values())
    assert toy_coverage(wf, tmp_path, load_split(data, "test", 64, None)) == {}


def test_evaluate_shows_one_progress_bar_and_one_line_notices(tiny_run, toy_data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(tiny_run), "--data", str(toy_data), "--out", str(out), "--steps", "2",
                 "--trials", "1", "--limit", "2", "--perceptual", "none", "--variants", "adain", "adain_lr"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in re.split(r"[\r\n]", captured.err) if line.strip()]
    bars = {m.group(1) for line in lines if (m := re.match(r"\s*([\w ]+):\s+\d+%\|", line))}
    notices = [line for line in lines if not re.match(r"\s*evaluate:\s+\d+%\|", line)]
    assert bars == {"evaluate"}, bars
    assert len(notices) == 2 and "FID skipped" in notices[0] and "untrained" in notices[1], notices
    assert all("Warning" not in n and ".py:" not in n and "urlretrieve" not in n for n in notices), notices
    assert captured.out == f"wrote {out / 'results.md'} and results.json\n"
    assert "precision: float32" in (out / "results.md").read_text()
    assert json.loads((out / "results.json").read_text())["meta"]["precision"] == "float32"
