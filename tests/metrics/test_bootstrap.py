import numpy as np
import torch

from artworkflow.metrics import bootstrap as B
from artworkflow.metrics.swd import swd_descriptors


def test_a_clear_difference_is_significant_and_noise_is_not():
    rng = np.random.default_rng(0)
    base = rng.normal(size=200)
    worse = B.mean_difference("l1", "a", base + 0.5, "b", base, replicates=200)
    assert worse.significant and abs(worse.difference - 0.5) < 1e-9 and worse.low <= 0.5 <= worse.high
    assert "significantly worse" in worse.sentence()
    same = B.mean_difference("l1", "a", base + rng.normal(scale=0.01, size=200), "b", base + rng.normal(
        scale=0.01, size=200), replicates=200)
    assert same.low < 0 < same.high and not same.significant and "no significant" in same.sentence()


def test_swd_difference_prefers_the_set_that_looks_like_the_reference():
    torch.manual_seed(0)
    ref = torch.rand(24, 3, 32, 32) * 2 - 1
    near = (ref + 0.05 * torch.randn_like(ref)).clamp(-1, 1)
    far = torch.zeros_like(ref)
    per = B.BOOTSTRAP_SWD_DESCRIPTORS
    d = B.swd_difference("near", swd_descriptors(near, 0, per), "far", swd_descriptors(far, 0, per),
                         swd_descriptors(ref, 0, per), per, replicates=30)
    assert d.units == 24 and d.significant and d.difference < 0
