"""Tables 1 and 2 of the paper on any dataset and model.

Table 1: reconstruct every test artwork with each variant (no optimisation, z optimisation, AdaIN
optimisation with w = 0, 1e-3, 1e-2, and with the learned regulariser); report the ℓ1 to the input
and the realism of the reconstructions. Table 2: edit each reconstruction by re-sampling z at a
random stage (the later stages keep their optimised vectors), over several trials, and report the
realism of the edits (mean ± std) and how well the earlier stages survive the edit.

Realism is SWD (always; Karras et al. 2018) and FID when the Inception weights are available, both
against the real final-stage training images, as in the paper. For the pairs the paper argues about
(LR vs w = 0, LR vs none, AdaIN vs z) the paired differences get bootstrap 95% intervals over test
images (ℓ1) and images × trials (edit SWD, preservation), and a sentence says which are significant.
Every run also measures the diversity of each stage's variations (``metrics.diversity``) and, on a
toy dataset written with true alternatives, how much of their spread the model covers."""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from .accel import accelerate
from .data.dataset import StageDataset
from .data.images import load_image
from .data.layout import read_spec
from .editing.reconstruct import Reconstruction, reconstruct
from .editing.regularization import UntrainedRegularizerWarning, untrained_note
from .editing.render import EditNetworks, edit_networks, stage_renderer
from .errors import WeightsNotFoundError
from .metrics import bootstrap as B
from .metrics.diversity import pixel_l1, stage_diversity, true_alternative_coverage
from .metrics.swd import sliced_wasserstein, swd_descriptors
from .outputs import OutputFolder
from .workflow import Workflow, check_same_workflow, read_model_config, resolve_model_dir
from .variants import VARIANTS

COMPARISONS = (("adain_lr", "adain"), ("adain_lr", "none"), ("adain", "z"))
"""The pairs the paper argues about: the learned regulariser against w = 0 and against no optimisation,
and AdaIN optimisation against z optimisation."""
DIVERSITY_VARIATIONS = 5
RESULT_FILES = ("results.json", "results.md")
AFTER_VARIANTS = ("comparisons", "diversity", "generation", "coverage")
"""The measures after the variants, one unit of the progress bar each."""


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
def resample_random_stage(wf: Workflow, rec: Reconstruction, seed: int, amp: str = "none",
                          networks: EditNetworks | None = None) -> tuple[list[Tensor], Tensor]:
    """Re-sample z of one random generation stage per image; later stages keep their optimised
    vectors and earlier stages stay as they were. Returns the edited stages and the chosen
    generation-stage index per image, rendered by ``networks`` (default: ``edit_networks(wf, amp=amp)``;
    pass those of the reconstruction)."""
    nets = networks if networks is not None else edit_networks(wf, amp=amp)
    g = torch.Generator().manual_seed(seed)
    batch = rec.artwork.shape[0]
    n_gen = wf.n_stages - 1
    chosen = torch.randint(0, n_gen, (batch,), generator=g).to(rec.artwork.device)
    z_new = torch.randn(batch, wf.model_config.nz, generator=g).to(rec.artwork.device)
    stages = [rec.stages[0]]
    for i, gen in enumerate(nets.generators):
        vec = torch.where((chosen == i)[:, None], wf.adain_vector(i, z_new), rec.adain[i])
        drawn = stage_renderer(gen, stages[-1], nets.amp)(vec)
        stages.append(torch.where((chosen <= i)[:, None, None, None], drawn, rec.stages[i + 1]))
    return stages, chosen.cpu()


@torch.no_grad()
def stage_preservation(wf: Workflow, original: list[Tensor], edited_final: Tensor, chosen: Tensor) -> list[float]:
    """Per image, the mean ℓ1 between the stages inferred from the edited artwork and the original
    stages up to and including the one the edit started from: small means earlier design decisions
    were kept."""
    inferred = wf.infer(edited_final)
    per_image = []
    for b in range(edited_final.shape[0]):
        k = int(chosen[b])
        per_image.append(sum(float((inferred[s][b] - original[s][b]).abs().mean()) for s in range(k + 1)) / (k + 1))
    return per_image


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def evaluate(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
             variants: list[str] | None = None, steps: int = 150, trials: int = 5, limit: int | None = None,
             reference_limit: int | None = 2000, perceptual=None, inception: torch.nn.Module | None = None,
             device: str = "cpu", seed: int = 0, amp: str = "none", accel: bool = True, replicates: int = 1000,
             log: Callable[[str], None] = print, overwrite: bool = False,
             progress: bool = True) -> list[dict[str, Any]]:
    """Run both tables, the paired comparisons and the diversity measures; write ``results.json``
    and ``results.md`` into ``out`` (existing ones only with ``overwrite``); return the rows. ``amp``
    is the precision of the optimisation and the rendering, ``accel`` whether they run accelerated (see
    ``reconstruct``); one progress bar
    follows the whole evaluation."""
    t0 = time.perf_counter()
    folder = check_inputs(model, data, out, overwrite)
    wf = Workflow.from_pretrained(model, map_location=device)
    wf = accelerate(wf, for_="infer") if accel else wf
    nets = edit_networks(wf, perceptual, amp, accel)
    amp = nets.amp
    res = wf.model_config.resolution
    test = [x.to(device) for x in load_split(data, "test", res, limit)]
    train_final = load_split(data, "train", res, reference_limit)[-1]
    realism = Realism(train_final.to(device), inception)
    artwork = test[-1]
    names = variants or list(VARIANTS)
    _note_untrained(wf, model, names, log)
    rows, per_unit = [], {}
    units = sum(steps * (wf.n_stages - 1) * (VARIANTS[n][0] != "none") + trials for n in names) + len(AFTER_VARIANTS)
    with _progress(units, progress) as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedRegularizerWarning)
        for name in names:
            bar.set_postfix_str(name)
            row, per_unit[name] = _evaluate_variant(wf, nets, name, artwork, realism, steps, trials, seed,
                                                    bar)
            rows.append(row)
        bar.set_postfix_str(", ".join(AFTER_VARIANTS))
        comparisons = _compare(per_unit, train_final, replicates, seed)
        diversity = _diversity(wf, test, perceptual, seed)
        generation = generation_quality(wf, test, realism, seed)
        coverage = toy_coverage(wf, data, test, seed)
        bar.update(len(AFTER_VARIANTS))
    meta = {"model": str(model), "data": str(data), "steps": steps, "trials": trials,
            "test_images": int(artwork.shape[0]), "reference_images": int(train_final.shape[0]),
            "perceptual": "vgg16" if perceptual is not None else "none", "fid": inception is not None,
            "amp": amp, "precision": precision_name(amp), "bootstrap_replicates": replicates,
            "seconds": round(time.perf_counter() - t0, 1)}
    with folder as staging:
        write_results(staging, rows, meta, comparisons, diversity, coverage, generation)
    return rows


def check_inputs(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike,
                 overwrite: bool = False) -> OutputFolder:
    """What can be checked before any work: the output folder, and that the data is of the model's workflow."""
    folder = OutputFolder(out, overwrite)
    folder.check(RESULT_FILES)
    check_same_workflow(read_spec(data), data, read_model_config(resolve_model_dir(model))[0], model)
    return folder


def precision_name(amp: str) -> str:
    """What an ``amp`` setting computes in: 'none' (no autocast) is float32."""
    return "float32" if amp == "none" else amp


@contextlib.contextmanager
def _progress(total: int, show: bool) -> Iterator[Any]:
    """One bar for the whole evaluation (an object that takes the same calls when hidden)."""
    from tqdm import tqdm
    bar = tqdm(total=total, desc="evaluate", dynamic_ncols=True, disable=not show)
    try:
        yield bar
    finally:
        bar.close()


def _note_untrained(wf: Workflow, model: str | os.PathLike, names: list[str], log: Callable[[str], None]) -> None:
    """One line, before the work starts, when a learned-regulariser variant uses an untrained one."""
    learned = [n for n in names if VARIANTS[n][1] == "learned"]
    note = untrained_note(wf, str(model))
    if learned and note is not None:
        log(f"evaluate: note: {note} (variants {', '.join(learned)})")


def _evaluate_variant(wf: Workflow, nets: EditNetworks, name: str, artwork: Tensor, realism: Realism, steps: int,
                      trials: int, seed: int, bar):
    """One row of Tables 1-2, and the per-unit values the paired comparisons resample."""
    method, reg = VARIANTS[name]
    rec = reconstruct(wf, artwork, method=method, regularization=reg, steps=steps, networks=nets,
                      progress=lambda i, t, loss: bar.update(1))
    row: dict[str, Any] = {"variant": name, "method": method, "regularization": reg,
                           "l1": rec.l1_after, "l1_before": rec.l1_before}
    row.update({f"recon_{k}": v for k, v in realism(rec.stages[-1], seed).items()})
    edits: dict[str, list[float]] = {}
    finals, preserved = [], []
    for t in range(trials):
        edited, chosen = resample_random_stage(wf, rec, seed * 1000 + t, networks=nets)
        for k, v in realism(edited[-1], seed + t).items():
            edits.setdefault(f"edit_{k}", []).append(v)
        kept = stage_preservation(wf, rec.stages, edited[-1], chosen)
        edits.setdefault("preservation_l1", []).append(statistics.fmean(kept))
        finals.append(edited[-1].cpu())
        preserved.append(kept)
        bar.update(1)
    for k, vals in edits.items():
        row[f"{k}_mean"], row[f"{k}_std"] = _mean_std(vals)
    # units image-major: image b, trial t at b * trials + t
    units = {"l1": pixel_l1(rec.stages[-1], artwork).cpu().numpy(),
             "edits": torch.stack(finals, 1).flatten(0, 1),
             "preservation": [p for b in range(artwork.shape[0]) for p in (preserved[t][b] for t in range(trials))]}
    return row, units


def _compare(per_unit: dict[str, dict], reference: Tensor, replicates: int, seed: int) -> list[dict[str, Any]]:
    """Paired bootstrap differences for the pairs of ``COMPARISONS`` that were evaluated."""
    pairs = [(a, b) for a, b in COMPARISONS if a in per_unit and b in per_unit]
    if not pairs:
        return []
    per = B.BOOTSTRAP_SWD_DESCRIPTORS
    ref_desc = swd_descriptors(reference, seed, per)
    edit_desc = {v: swd_descriptors(per_unit[v]["edits"], seed, per) for v in {v for pair in pairs for v in pair}}
    out = []
    for a, b in pairs:
        ua, ub = per_unit[a], per_unit[b]
        diffs = [B.mean_difference("reconstruction ℓ1", a, ua["l1"], b, ub["l1"], replicates=replicates, seed=seed),
                 B.swd_difference(a, edit_desc[a], b, edit_desc[b], ref_desc, per, metric="edit SWD",
                                  replicates=max(50, replicates // 5), seed=seed),
                 B.mean_difference("edit stage preservation ℓ1", a, ua["preservation"], b, ub["preservation"],
                                   replicates=replicates, seed=seed)]
        out += [{**d.to_dict(), "sentence": d.sentence()} for d in diffs]
    return out


@torch.no_grad()
def generation_quality(wf: Workflow, test: list[Tensor], realism: Realism, seed: int = 0) -> dict[str, float]:
    """Realism of final stages generated from the test first stages with random latents, and the ℓ1 of
    each inference net on the test set (G^I_i(x_{i+1}) against x_i, real inputs)."""
    sampled = wf.sample(test[0], generator=torch.Generator().manual_seed(seed))[-1]
    out = {f"generated_{k}": v for k, v in realism(sampled, seed).items()}
    for i, net in enumerate(wf.inference):
        out[f"inference_l1_{wf.spec.names[i]}"] = float(pixel_l1(net(test[i + 1]), test[i]).mean())
    return out


def _diversity(wf: Workflow, test: list[Tensor], perceptual, seed: int) -> dict[str, dict[str, float]]:
    distances = {"l1": pixel_l1}
    if perceptual is not None:
        distances["vgg"] = lambda a, b: perceptual(a, b, reduction="none")
    return stage_diversity(wf, test, DIVERSITY_VARIATIONS, seed, distances)


def toy_coverage(wf: Workflow, data: str | os.PathLike, test: list[Tensor], seed: int = 0) -> dict[str, dict]:
    """Coverage of the true alternatives under ``DATA/alternatives/<stage>/<id>/<v>.png`` (written by
    ``dataset toy --alternatives K``) for the test items that have them; {} for other data."""
    from .data.toy import ALTERNATIVES_DIR
    root = Path(data) / ALTERNATIVES_DIR
    if not root.is_dir():
        return {}
    ids = StageDataset(data, "test", resolution=wf.model_config.resolution, train=False).ids[:test[0].shape[0]]
    out = {}
    for s in range(1, wf.n_stages):
        name, channels = wf.spec.names[s], wf.spec.channels[s]
        folders = [root / name / i for i in ids]
        if not all(f.is_dir() for f in folders):
            continue
        alts = torch.stack([torch.stack([load_image(p, channels) for p in sorted(f.glob("*.png"))]) for f in folders])
        if alts.shape[-1] != wf.model_config.resolution:
            continue
        out[name] = true_alternative_coverage(wf, test[s - 1], alts.to(test[0].device), s - 1, seed)
    return out


def write_results(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any],
                  comparisons: list[dict[str, Any]] = (), diversity: dict[str, dict] | None = None,
                  coverage: dict[str, dict] | None = None, generation: dict[str, float] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows, "comparisons": list(comparisons),
                                                  "diversity": diversity or {}, "coverage": coverage or {},
                                                  "generation": generation or {}}, indent=2))
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
    precision = precision_name(meta.get("amp", "none"))
    text = (f"# Evaluation\n\nModel `{meta['model']}`, data `{meta['data']}`: {meta['test_images']} test images, "
            f"{meta['reference_images']} real training images as the realism reference, T = {meta['steps']}, "
            f"perceptual term: {meta['perceptual']}, precision: {precision}, "
            f"{meta['trials']} edit trials" + (f", {meta['seconds']:.0f} s" if "seconds" in meta else "") + ".\n\n"
            "## Table 1: reconstruction\n\n" + "\n".join(t1) +
            "\n\n## Table 2: editing (re-sample z at a random stage)\n\n" + "\n".join(t2) + "\n")
    if comparisons:
        text += ("\n## Paired differences (bootstrap 95% intervals; lower is better for every metric)\n\n"
                 + "\n".join(f"- {c['sentence']}" for c in comparisons) + "\n")
    if generation:
        text += ("\n## Generation from the test first stages (random latents) and inference\n\n"
                 + "\n".join(f"- {k.replace('_', ' ')}: {v:.4f}" for k, v in generation.items()) + "\n")
    if diversity:
        kinds = sorted({k.split("_")[0] for row in diversity.values() for k in row})
        text += ("\n## Diversity of each stage's variations (5 per input, earlier stages fixed)\n\n"
                 "Mean pairwise distance between variations, over the mean pairwise distance between different "
                 "real items of that stage (0: the stage ignores its latent; 1: as varied as different artworks)."
                 "\n\n| stage | " + " | ".join(f"{k} variations | {k} real | {k} relative" for k in kinds) + " |\n|---|"
                 + "---|---|---|" * len(kinds) + "\n"
                 + "\n".join(f"| {s} | " + " | ".join(f"{r[f'{k}_variations']:.4f} | {r[f'{k}_real']:.4f} | "
                                                      f"{r[f'{k}_relative']:.3f}" for k in kinds) + " |"
                             for s, r in diversity.items()) + "\n")
    if coverage:
        text += ("\n## Coverage of the true alternatives (toy data)\n\n| stage | true spread | model spread | "
                 "coverage |\n|---|---|---|---|\n" + "\n".join(
                     f"| {s} | {c['true_spread']:.4f} | {c['model_spread']:.4f} | {c['coverage']:.3f} |"
                     for s, c in coverage.items()) + "\n")
    (out / "results.md").write_text(text)


def optional_inception(path: str | None, log: Callable[[str], None] = print) -> torch.nn.Module | None:
    """The FID network when its weights are found; otherwise a notice and SWD only. An explicit path
    that points nowhere stays an error."""
    from .nn.inception import load_inception
    try:
        return load_inception(path).eval()
    except WeightsNotFoundError:
        if path is not None or os.environ.get("ARTWORKFLOW_INCEPTION"):
            raise
        log("evaluate: FID skipped (no Inception-v3 weights here; pass --inception-weights FILE or set "
            "$ARTWORKFLOW_INCEPTION, see `artworkflow evaluate --help`); realism is SWD only")
        return None
