"""Paired bootstrap intervals for the differences between two editing variants.

Both variants are measured on the same units (test images, or images × edit trials), so the
difference is resampled per unit: one draw of units with replacement gives one replicate of the
difference, and the 2.5th and 97.5th percentiles of the replicates bound its 95% interval. A
difference is called significant when that interval excludes 0."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .swd import swd_from_descriptors

BOOTSTRAP_SWD_DESCRIPTORS = 32
"""Descriptors per image in the bootstrap of SWD differences (the full score uses 128)."""


@dataclass(frozen=True)
class PairedDifference:
    metric: str
    a: str
    b: str
    difference: float
    low: float
    high: float
    units: int

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def sentence(self, lower_is_better: bool = True) -> str:
        if not self.significant:
            return (f"{self.a} vs {self.b}: no significant difference in {self.metric} "
                    f"({self.difference:+.4g}, 95% CI [{self.low:+.4g}, {self.high:+.4g}], {self.units} units)")
        better = (self.difference < 0) == lower_is_better
        return (f"{self.a} vs {self.b}: {self.a} is significantly {'better' if better else 'worse'} in "
                f"{self.metric} ({self.difference:+.4g}, 95% CI [{self.low:+.4g}, {self.high:+.4g}], "
                f"{self.units} units)")

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def paired_bootstrap(statistic: Callable[[np.ndarray], float], units: int, *, replicates: int = 1000,
                     seed: int = 0) -> tuple[float, float, float]:
    """(statistic on all units, 2.5th and 97.5th percentile over resampled unit sets)."""
    rng = np.random.default_rng(seed)
    full = statistic(np.arange(units))
    reps = [statistic(rng.integers(0, units, units)) for _ in range(replicates)]
    low, high = np.percentile(reps, [2.5, 97.5])
    return float(full), float(low), float(high)


def mean_difference(metric: str, a_name: str, a: np.ndarray, b_name: str, b: np.ndarray, *,
                    replicates: int = 1000, seed: int = 0) -> PairedDifference:
    """Paired difference of per-unit values a - b (e.g. per-image ℓ1)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    est, lo, hi = paired_bootstrap(lambda idx: float(d[idx].mean()), len(d), replicates=replicates, seed=seed)
    return PairedDifference(metric, a_name, b_name, est, lo, hi, len(d))


def swd_difference(a_name: str, a_desc: list[Tensor], b_name: str, b_desc: list[Tensor], ref_desc: list[Tensor],
                   per_image: int, *, metric: str = "SWD", replicates: int = 200, seed: int = 0) -> PairedDifference:
    """Paired difference of SWD to the reference between two sets of images, resampled per image
    (the same images of both sets in each replicate). Descriptors come from ``swd_descriptors``."""
    units = a_desc[0].shape[0] // per_image

    def rows(idx: np.ndarray) -> Tensor:
        return (torch.as_tensor(idx)[:, None] * per_image + torch.arange(per_image)).flatten()

    def statistic(idx: np.ndarray) -> float:
        r = rows(idx)
        swd = [swd_from_descriptors([lv[r] for lv in desc], ref_desc, seed, n_dirs=64, n_repeats=1)["swd_avg"]
               for desc in (a_desc, b_desc)]
        return swd[0] - swd[1]

    est, lo, hi = paired_bootstrap(statistic, units, replicates=replicates, seed=seed)
    return PairedDifference(metric, a_name, b_name, est, lo, hi, units)
