"""PGD / FGSM: closed form on a linear model, invariants, and strength on a trained model."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.robustness.attacks.base import run_attack
from aiarmor.robustness.attacks.pgd import PGD, fgsm, wilson_interval
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import TorchTarget


def _linear_target(seed=0):
    torch.manual_seed(seed)
    lin = torch.nn.Linear(6, 3).eval()
    return TorchTarget(lin, n_classes=3, bounds=(0.0, 1.0)), lin


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x = rng.random((300, 8), dtype=np.float32)
    y = (x[:, :4].sum(axis=1) > x[:, 4:].sum(axis=1)).astype(np.int64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return TorchTarget(model.eval(), n_classes=2, bounds=(0.0, 1.0)), xt, yt


def test_fgsm_matches_the_closed_form_on_a_linear_model():
    target, lin = _linear_target()
    x = torch.rand(20, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = lin(x).argmax(dim=1)  # all correctly classified by construction
        p = torch.softmax(lin(x), dim=1)
        grad = (p - torch.nn.functional.one_hot(y, 3).float()) @ lin.weight
    eps = 0.05
    expected = (x + eps * grad.sign()).clamp(0, 1)
    got = fgsm().perturb(target, x, y, ThreatModel(Norm.LINF, eps), torch.Generator())
    torch.testing.assert_close(got, expected)


@settings(max_examples=20, deadline=None)
@given(eps=st.floats(0.01, 0.5), norm=st.sampled_from(list(Norm)), seed=st.integers(0, 99))
def test_pgd_stays_in_ball_and_bounds(trained, eps, norm, seed):
    target, x, y = trained
    threat = ThreatModel(norm, eps)
    res = run_attack(PGD(steps=5), target, x[:40], y[:40], threat, seed=seed)
    assert res.x_adv.shape == x[:40].shape and res.x_adv.dtype == torch.float32
    assert bool(threat.contains(x[:40], res.x_adv).all())


def test_pgd_beats_fgsm_and_lowers_accuracy(trained):
    target, x, y = trained
    threat = ThreatModel(Norm.LINF, 0.1)
    pgd = run_attack(PGD(steps=20), target, x, y, threat, seed=0)
    one = run_attack(fgsm(), target, x, y, threat, seed=0)
    assert pgd.robust_accuracy < pgd.clean_accuracy - 0.2
    assert pgd.robust_accuracy <= one.robust_accuracy


def test_pgd_is_deterministic_for_a_seed(trained):
    target, x, y = trained
    threat = ThreatModel(Norm.L2, 0.3)
    a = run_attack(PGD(steps=5), target, x, y, threat, seed=4).x_adv
    b = run_attack(PGD(steps=5), target, x, y, threat, seed=4).x_adv
    torch.testing.assert_close(a, b)


def test_wilson_interval():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0
