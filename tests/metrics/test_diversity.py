import torch
from torch import nn

from artworkflow.metrics import diversity as D


def test_mean_pairwise_by_hand():
    images = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2), torch.full((1, 2, 2), 3.0)])
    assert abs(D.mean_pairwise(images) - (1 + 3 + 2) / 3) < 1e-6


def _ignore_z(workflow):
    """Make every generator's AdaIN vector a constant, so the output cannot depend on z."""
    for g in workflow.generators:
        last = g.mlp.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.constant_(last.bias, 0.5)


def test_diversity_is_zero_when_z_is_ignored_and_positive_when_it_is_used(workflow):
    torch.manual_seed(0)
    real = [torch.rand(4, c, 64, 64) * 2 - 1 for c in workflow.spec.channels]
    used = D.stage_diversity(workflow.eval(), real, k=3)
    assert set(used) == set(workflow.spec.names[1:])
    assert all(row["l1_variations"] > 1e-4 and row["l1_relative"] > 0 for row in used.values())
    _ignore_z(workflow)
    ignored = D.stage_diversity(workflow, real, k=3)
    assert all(row["l1_variations"] < 1e-6 and row["l1_relative"] < 1e-5 for row in ignored.values())
    assert all(abs(row["l1_real"] - used[s]["l1_real"]) < 1e-9 for s, row in ignored.items())


def test_coverage_of_true_alternatives(workflow):
    torch.manual_seed(0)
    inputs = torch.rand(2, workflow.spec.channels[0], 64, 64) * 2 - 1
    alternatives = torch.rand(2, 3, workflow.spec.channels[1], 64, 64) * 2 - 1
    got = D.true_alternative_coverage(workflow.eval(), inputs, alternatives, 0)
    assert got["true_spread"] > 0 and got["coverage"] > 0
    _ignore_z(workflow)
    assert D.true_alternative_coverage(workflow, inputs, alternatives, 0)["coverage"] < 1e-5
