"""Does each stage use its latent? Trains a run in segments and, after each, prints one JSON line per
checkpoint: per generation stage, how much the encoder's mu differ between test items (posterior
collapse: ``mu_std`` near 0 while ``var`` stays near the prior's 1), how far two random latents move
the output (``d_rand``) and two items' encoded latents move it (``d_enc``), against the spread of
real items (``real``), and the gradients of the encoded-branch ℓ1 and of the KL term on mu.

    python benchmarks/latent_use.py --data DIR --out runs/probe --preset tiny --max-steps 1500 --every 250
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import artworkflow  # noqa: F401  (first: sets passive OpenMP waiting before torch loads)
import torch
import yaml

from artworkflow import losses as L
from artworkflow.config import preset, replace
from artworkflow.data.dataset import StageDataset, collate_stages
from artworkflow.train.checkpoint import latest_checkpoint
from artworkflow.train.loop import train
from artworkflow.workflow import Workflow


def measure(wf: Workflow, stages: list[torch.Tensor], seed: int = 0) -> dict[str, dict[str, float]]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i, gen in enumerate(wf.generators):
        x, nxt = stages[i], stages[i + 1]
        mu, logvar = wf.encoders[i](nxt)
        mu.retain_grad()
        other = torch.roll(torch.arange(len(mu)), 1)
        with torch.no_grad():
            content = gen.encode_content(x)
            z1, z2 = (torch.randn(mu.shape, generator=g) for _ in range(2))
            d_rand = L.l1(gen.decode(content, gen.adain_vector(z1)), gen.decode(content, gen.adain_vector(z2)))
            d_enc = L.l1(gen.decode(content, gen.adain_vector(mu)), gen.decode(content, gen.adain_vector(mu[other])))
        z = mu + torch.randn(mu.shape, generator=g) * torch.exp(0.5 * logvar)
        (10 * L.l1(gen(x, z), nxt)).backward(retain_graph=True)
        dl1 = float(mu.grad.abs().mean())
        mu.grad = None
        (0.01 * L.kl_divergence(mu, logvar)).backward()
        out[wf.spec.names[i + 1]] = {
            "mu_std": float(mu.std(0).mean()), "var": float(logvar.exp().mean()), "d_rand": float(d_rand),
            "d_enc": float(d_enc), "real": float(L.l1(nxt, nxt[other])), "dl1_dmu": dl1,
            "dkl_dmu": float(mu.grad.abs().mean())}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="run folder (resumed if it exists)")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--config", help="YAML with model:/train: overrides")
    p.add_argument("--max-steps", type=int, default=1500)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--items", type=int, default=16, help="test items to measure on")
    a = p.parse_args()
    model, cfg = preset(a.preset)
    extra = yaml.safe_load(Path(a.config).read_text()) if a.config else {}
    model = replace(model, extra.get("model") or {}, "model.")
    cfg = replace(cfg, {**(extra.get("train") or {}), "max_steps": a.max_steps}, "train.")
    ds = StageDataset(a.data, "test", resolution=model.resolution, train=False)
    stages = collate_stages([ds[i] for i in range(min(a.items, len(ds)))])
    for until in range(a.every, a.max_steps + a.every, a.every):
        t0 = time.perf_counter()
        res = train(a.data, a.out, model, cfg, resume=latest_checkpoint(Path(a.out)) is not None, progress=False,
                    until_step=min(until, a.max_steps))
        wf = Workflow.from_pretrained(latest_checkpoint(Path(a.out)) / "model")
        print(json.dumps({"step": res.step, "seconds": round(time.perf_counter() - t0, 1),
                          "stages": measure(wf, stages)}), flush=True)
        if res.step >= a.max_steps:
            break


if __name__ == "__main__":
    main()
