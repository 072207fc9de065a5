"""Fixtures shared by the editing tests (the tiny trained model is tests/conftest.py's `workflow`): a test
artwork it has never seen."""
from __future__ import annotations

import pytest
import torch

from artworkflow.data.dataset import StageDataset


@pytest.fixture(scope="module")
def test_items(toy_data) -> list[list[torch.Tensor]]:
    ds = StageDataset(toy_data, "test", resolution=64, train=False)
    return [ds[i] for i in range(2)]


@pytest.fixture(scope="module")
def artwork(test_items) -> torch.Tensor:
    """One finished test artwork as a (1, 3, 64, 64) batch."""
    return test_items[0][-1][None]
