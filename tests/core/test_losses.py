import math

import torch

from artworkflow import losses as L


def test_hinge_d_hand_computed():
    real = [torch.tensor([2.0, 0.5]), torch.tensor([-1.0])]
    fake = [torch.tensor([-2.0, 0.0]), torch.tensor([0.5])]
    # scale 1: relu(1-2)=0, relu(1-0.5)=0.5 -> 0.25 ; relu(1-2)=0, relu(1+0)=1 -> 0.5
    # scale 2: relu(1+1)=2 ; relu(1+0.5)=1.5
    assert math.isclose(L.hinge_d(real, fake).item(), 0.25 + 0.5 + 2 + 1.5)


def test_hinge_g_hand_computed():
    assert math.isclose(L.hinge_g([torch.tensor([1.0, 3.0]), torch.tensor([-0.5])]).item(), -2.0 + 0.5)


def test_l1():
    assert math.isclose(L.l1(torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])).item(), 1.5)


def test_kl_is_a_sum():
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    # 0.5*(1 + 1 - 1 - 0) + 0.5*(0 + 2 - 1 - ln2)
    want = 0.5 + 0.5 * (1 - math.log(2.0))
    assert math.isclose(L.kl_divergence(mu, logvar).item(), want, rel_tol=1e-6)
    assert L.kl_divergence(torch.zeros(3, 8), torch.zeros(3, 8)).item() == 0.0
    two = L.kl_divergence(torch.cat([mu, mu]), torch.cat([logvar, logvar])).item()
    assert math.isclose(two, 2 * want, rel_tol=1e-6)


def test_latent_regression():
    assert math.isclose(L.latent_regression(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])).item(), 1.5)


def test_mode_seeking_hand_computed():
    a = torch.zeros(2, 1, 2, 2)
    b = torch.cat([torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 1.0)])
    za = torch.zeros(2, 2)
    zb = torch.cat([torch.ones(1, 2), torch.full((1, 2), 3.0)])
    # published form, means over the whole batch: mean|a-b| = 0.75, mean|za-zb| = 2
    want = 1 / (0.75 / 2.0 + 1e-5)
    assert math.isclose(L.mode_seeking(a, b, za, zb).item(), want, rel_tol=1e-6)
    # a generator that ignores z pays 1/eps; one whose output moves as fast as z pays about 1
    assert math.isclose(L.mode_seeking(a, a, za, zb).item(), 1e5, rel_tol=1e-6)
