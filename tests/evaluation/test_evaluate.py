import json

import pytest
import torch

from artworkflow.cli import VARIANT_NAMES, main
from artworkflow.editing.adain_opt import reconstruct
from artworkflow.evaluate import VARIANTS, resample_random_stage, stage_preservation
from artworkflow.workflow import Workflow


def test_variant_names_match():
    assert tuple(VARIANTS) == VARIANT_NAMES


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
    assert res["meta"]["amp"] == "none" and "precision: none" in md

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
    assert stage_preservation(wf, rec.stages, rec.stages[-1], torch.zeros(4, dtype=torch.long)) >= 0
