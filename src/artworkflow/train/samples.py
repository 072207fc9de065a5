"""What a person looks at during training: TensorBoard scalars, sample grids written as PNG, an
``index.html`` that shows them, and ``metrics.jsonl`` with validation ℓ1 over time."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..data.dataset import StageDataset, collate_stages
from ..data.images import make_grid, save_image
from ..report.page import Figure, Section, write_page
from ..workflow import Workflow
from .objectives import validation_l1

N_ITEMS = 4
N_VARIATIONS = 3


class SampleWriter:
    def __init__(self, run: Path, train_ds: StageDataset, wf: Workflow, seed: int = 0):
        self.run, self.wf, self.seed = Path(run), wf, seed
        root = train_ds.root
        split = "test" if (Path(root) / "test").is_dir() else "train"  # no test split: preview training items
        ds = StageDataset(root, split, resolution=train_ds.resolution, train=False)
        self.batch = collate_stages([ds[i] for i in range(min(N_ITEMS, len(ds)))])
        self.names = train_ds.spec.names
        (self.run / "samples").mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(self.run / "tensorboard"))
        except ImportError:
            self.tb = None

    def scalars(self, step: int, phase: str, losses: dict[str, float]) -> None:
        if self.tb is not None:
            for k, v in losses.items():
                self.tb.add_scalar(f"loss/{k}", v, step)

    @torch.no_grad()
    def samples(self, step: int) -> Path:
        wf = self.wf
        was_training = wf.training
        wf.eval()
        dev = wf.device
        stages = [x.to(dev) for x in self.batch]
        inferred = wf.infer(stages[-1])
        mus = [wf.encode(i, stages[i + 1])[0] for i in range(len(wf.generators))]
        recon = wf.generate(stages[0], zs=mus)
        g = torch.Generator().manual_seed(self.seed)
        variations = [wf.generate(stages[0], zs=wf.random_z(stages[0].shape[0], g))[-1]
                      for _ in range(N_VARIATIONS)]
        rows = []
        for b in range(stages[0].shape[0]):
            rows.append([s[b] for s in stages] + [s[b] for s in inferred[:-1]] + [s[b] for s in recon[1:]]
                        + [v[b] for v in variations])
        grid = make_grid([[t.float().cpu() for t in r] for r in rows])
        path = self.run / "samples" / f"step-{step:08d}.png"
        save_image(grid, path)
        metrics = {"step": step, **validation_l1(wf, stages)}
        with open(self.run / "metrics.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
        if self.tb is not None:
            self.tb.add_image("samples", (grid.clamp(-1, 1) + 1) / 2, step)
            for k, v in metrics.items():
                if k != "step":
                    self.tb.add_scalar(f"val_l1/{k}", v, step)
        write_index(self.run, self.names)
        wf.train(was_training)
        return path

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def write_index(run: Path, names: list[str]) -> Path:
    """A self-contained page listing the sample grids, newest first, with a legend of the columns."""
    legend = (f"Columns: real {' → '.join(names)} | inferred {' → '.join(names[:-1])} from the real "
              f"{names[-1]} | reconstruction {' → '.join(names[1:])} from the real {names[0]} with "
              f"encoded latents | {N_VARIATIONS} random {names[-1]} variations.")
    grids = sorted((run / "samples").glob("step-*.png"), reverse=True)
    figures = [Figure(f"samples/{p.name}", p.stem) for p in grids]
    return write_page(run / "index.html", f"Training samples: {run.name}", [Section(text=legend, figures=figures)])
