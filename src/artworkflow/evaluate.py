"""Tables 1 and 2 of the paper on any dataset and model.

Table 1: reconstruct every test artwork with each variant (no optimisation, z optimisation, AdaIN
optimisation with w = 0, 1e-3, 1e-2, and with the learned regulariser); report the ℓ1 to the input
and the realism of the reconstructions. Table 2: edit each reconstruction by re-sampling z at a
random stage (the later stages keep their optimised vectors), over several trials, and report the
realism of the edits (mean ± std) and how well the earlier stages survive the edit.

Realism is SWD (always; Karras et al. 2018) and FID when the Inception weights are available, both
against the real final-stage training images, as in the paper."""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from .data.dataset import StageDataset
from .editing.adain_opt import Reconstruction, reconstruct, resolve_amp, stage_renderer
from .errors import WeightsNotFoundError
from .metrics.swd import sliced_wasserstein
from .workflow import Workflow

VARIANTS: dict[str, tuple[str, str | float]] = {
    "none": ("none", "none"),
    "z": ("z", "none"),
    "adain": ("adain", "none"),
    "adain_w1e-3": ("adain", 1e-3),
    "adain_w1e-2": ("adain", 1e-2),
    "adain_lr": ("adain", "learned"),
}


@dataclass
class Realism:
    """Scores a set of generated final-stage images against the real training images."""

    reference: Tensor
    inception: torch.nn.Module | None = None
    _ref_features: Any = None

    def __call__(self, images: Tensor, seed: int = 0) -> dict[str, float]:
        out = {"swd": sliced_wasserstein(images, self.reference, seed=seed)["swd_avg"]}
        if self.inception is not None:
            from .metrics.fid import fid_from_features, inception_features
            if self._ref_features is None:
                self._ref_features = inception_features(self.inception, self.reference)
            out["fid"] = fid_from_features(inception_features(self.inception, images), self._ref_features)
        return out


def load_split(data: str | os.PathLike, split: str, resolution: int, limit: int | None) -> list[Tensor]:
    ds = StageDataset(data, split, resolution=resolution, train=False)
    n = len(ds) if limit is None else min(limit, len(ds))
    items = [ds[i] for i in range(n)]
    return [torch.stack([it[s] for it in items]) for s in range(ds.spec.n_stages)]


@torch.no_grad()
def resample_random_stage(wf: Workflow, rec: Reconstruction, seed: int,
                          amp: str = "none") -> tuple[list[Tensor], Tensor]:
    """Re-sample z of one random generation stage per image; later stages keep their optimised
    vectors and earlier stages stay as they were. Returns the edited stages and the chosen
    generation-stage index per image."""
    g = torch.Generator().manual_seed(seed)
    batch = rec.artwork.shape[0]
    n_gen = wf.n_stages - 1
    chosen = torch.randint(0, n_gen, (batch,), generator=g).to(rec.artwork.device)
    z_new = torch.randn(batch, wf.model_config.nz, generator=g).to(rec.artwork.device)
    stages = [rec.stages[0]]
    for i, gen in enumerate(wf.generators):
        vec = torch.where((chosen == i)[:, None], gen.adain_vector(z_new), rec.adain[i])
        drawn = stage_renderer(gen, stages[-1], amp)(vec)
        stages.append(torch.where((chosen <= i)[:, None, None, None], drawn, rec.stages[i + 1]))
    return stages, chosen.cpu()


@torch.no_grad()
def stage_preservation(wf: Workflow, original: list[Tensor], edited_final: Tensor, chosen: Tensor) -> float:
    """Mean ℓ1 between the stages inferred from the edited artwork and the original stages up to and
    including the one the edit started from: small means earlier design decisions were kept."""
    inferred = wf.infer(edited_final)
    per_image = []
    for b in range(edited_final.shape[0]):
        k = int(chosen[b])
        per_image.append(sum(float((inferred[s][b] - original[s][b]).abs().mean()) for s in range(k + 1)) / (k + 1))
    return sum(per_image) / len(per_image)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def evaluate(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
             variants: list[str] | None = None, steps: int = 150, trials: int = 5, limit: int | None = None,
             reference_limit: int | None = 2000, perceptual=None, inception: torch.nn.Module | None = None,
             device: str = "cpu", seed: int = 0, amp: str = "none",
             log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run both tables; write ``results.json`` and ``results.md`` into ``out``; return the rows.
    ``amp`` is the precision of the optimisation and the rendering (see ``reconstruct``)."""
    wf = Workflow.from_pretrained(model, map_location=device)
    amp = resolve_amp(amp, wf.device)
    res = wf.model_config.resolution
    test = load_split(data, "test", res, limit)
    train_final = load_split(data, "train", res, reference_limit)[-1]
    realism = Realism(train_final.to(device), inception)
    artwork = test[-1].to(device)
    rows = []
    for name in variants or list(VARIANTS):
        method, reg = VARIANTS[name]
        log(f"evaluate: {name} ({method}, regularization={reg}) on {artwork.shape[0]} test images")
        rec = reconstruct(wf, artwork, method=method, regularization=reg, steps=steps,
                          perceptual=perceptual, amp=amp, progress=True)
        row: dict[str, Any] = {"variant": name, "method": method, "regularization": reg,
                               "l1": rec.l1_after, "l1_before": rec.l1_before}
        row.update({f"recon_{k}": v for k, v in realism(rec.stages[-1], seed).items()})
        edits: dict[str, list[float]] = {}
        for t in range(trials):
            edited, chosen = resample_random_stage(wf, rec, seed * 1000 + t, amp)
            for k, v in realism(edited[-1], seed + t).items():
                edits.setdefault(f"edit_{k}", []).append(v)
            edits.setdefault("preservation_l1", []).append(stage_preservation(wf, rec.stages, edited[-1], chosen))
        for k, vals in edits.items():
            row[f"{k}_mean"], row[f"{k}_std"] = _mean_std(vals)
        rows.append(row)
    write_results(Path(out), rows, {"model": str(model), "data": str(data), "steps": steps, "trials": trials,
                                    "test_images": int(artwork.shape[0]),
                                    "reference_images": int(train_final.shape[0]),
                                    "perceptual": "vgg16" if perceptual is not None else "none",
                                    "fid": inception is not None, "amp": amp})
    return rows


def write_results(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    fid = meta.get("fid")
    t1 = ["| variant | ℓ1 ↓ | SWD ↓ |" + (" FID ↓ |" if fid else ""),
          "|---|---|---|" + ("---|" if fid else "")]
    t2 = ["| variant | edit SWD ↓ |" + (" edit FID ↓ |" if fid else "") + " stage preservation ℓ1 ↓ |",
          "|---|---|" + ("---|" if fid else "") + "---|"]
    for r in rows:
        t1.append(f"| {r['variant']} | {r['l1']:.4f} | {r['recon_swd']:.2f} |"
                  + (f" {r['recon_fid']:.2f} |" if fid else ""))
        t2.append(f"| {r['variant']} | {r['edit_swd_mean']:.2f} ± {r['edit_swd_std']:.2f} |"
                  + (f" {r['edit_fid_mean']:.2f} ± {r['edit_fid_std']:.2f} |" if fid else "")
                  + f" {r['preservation_l1_mean']:.4f} ± {r['preservation_l1_std']:.4f} |")
    text = (f"# Evaluation\n\nModel `{meta['model']}`, data `{meta['data']}`: {meta['test_images']} test images, "
            f"{meta['reference_images']} real training images as the realism reference, T = {meta['steps']}, "
            f"perceptual term: {meta['perceptual']}, precision: {meta.get('amp', 'none')}, "
            f"{meta['trials']} edit trials.\n\n"
            "## Table 1: reconstruction\n\n" + "\n".join(t1) +
            "\n\n## Table 2: editing (re-sample z at a random stage)\n\n" + "\n".join(t2) + "\n")
    (out / "results.md").write_text(text)


def optional_inception(path: str | None, log: Callable[[str], None] = print) -> torch.nn.Module | None:
    """The FID network when its weights are found; otherwise a notice and SWD only. An explicit path
    that points nowhere stays an error."""
    from .nn.inception import load_inception
    try:
        return load_inception(path).eval()
    except WeightsNotFoundError as e:
        if path is not None or os.environ.get("ARTWORKFLOW_INCEPTION"):
            raise
        log(f"evaluate: FID skipped, Inception weights not found ({str(e).splitlines()[0]})")
        return None
