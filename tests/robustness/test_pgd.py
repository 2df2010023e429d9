"""PGD / FGSM: closed form on a linear model, invariants, dropping fooled samples, schedules."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks.base import run_attack
from aiarmor.robustness.attacks.pgd import PGD, fgsm, random_start
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


def test_l2_fgsm_steps_along_the_normalized_gradient_of_a_linear_model():
    target, lin = _linear_target()
    x = 0.25 + 0.5 * torch.rand(10, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = lin(x).argmax(dim=1)
        grad = (torch.softmax(lin(x), 1) - torch.nn.functional.one_hot(y, 3).float()) @ lin.weight
    eps = 0.1
    expected = x + eps * grad / grad.norm(dim=1, keepdim=True)
    got = fgsm().perturb(target, x, y, ThreatModel(Norm.L2, eps), torch.Generator())
    torch.testing.assert_close(got, expected)


@settings(max_examples=20, deadline=None)
@given(
    eps=st.floats(0.01, 0.5),
    norm=st.sampled_from(list(Norm)),
    seed=st.integers(0, 99),
    schedule=st.sampled_from(["constant", "cosine", "linear"]),
)
def test_pgd_stays_in_ball_and_bounds(trained, eps, norm, seed, schedule):
    target, x, y = trained
    threat = ThreatModel(norm, eps)
    res = run_attack(PGD(steps=5, schedule=schedule), target, x[:40], y[:40], threat, seed=seed)
    assert res.x_adv.shape == x[:40].shape and res.x_adv.dtype == torch.float32
    assert bool(threat.contains(x[:40], res.x_adv).all())


@settings(max_examples=25, deadline=None)
@given(eps=st.floats(0.0, 3.0), norm=st.sampled_from(list(Norm)), seed=st.integers(0, 999))
def test_projection_is_idempotent_and_random_starts_lie_in_the_ball(eps, norm, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(16, 5, generator=gen)
    threat = ThreatModel(norm, eps)
    once = threat.project(x, x + 2 * torch.randn(16, 5, generator=gen))
    twice = threat.project(x, once)
    if norm is Norm.LINF:
        assert torch.equal(twice, once)  # bit for bit: no ulp drift
    torch.testing.assert_close(twice, once, rtol=0, atol=1e-6)
    inside = threat.project(x, x + 0.5 * (once - x))  # strictly inside: returned as is
    assert torch.equal(threat.project(x, inside), inside)
    start = random_start(x, threat, gen)
    assert bool(threat.contains(x, start).all())


def test_pgd_beats_fgsm_and_lowers_accuracy(trained):
    target, x, y = trained
    threat = ThreatModel(Norm.LINF, 0.1)
    pgd = run_attack(PGD(steps=20), target, x, y, threat, seed=0)
    one = run_attack(fgsm(), target, x, y, threat, seed=0)
    assert pgd.robust_accuracy < pgd.clean_accuracy - 0.2
    assert pgd.robust_accuracy <= one.robust_accuracy


def test_fooled_samples_leave_the_batch_and_restarts_only_see_robust_ones(trained):
    target, x, y = trained
    n_correct = int((target.logits(x).argmax(1) == y).sum())
    q0 = target.queries
    res = run_attack(PGD(steps=40), target, x, y, ThreatModel(Norm.LINF, 0.5), seed=0)
    assert res.robust_accuracy == 0.0
    used = target.queries - q0 - len(x) - n_correct  # minus the clean pass and verification
    assert used < 0.2 * 40 * n_correct  # everything fooled within a few steps, then dropped
    q0 = target.queries
    res3 = run_attack(PGD(steps=10, restarts=3), target, x, y, ThreatModel(Norm.LINF, 0.05))
    robust = int(res3.robust.sum())
    assert target.queries - q0 <= len(x) + n_correct + 10 * n_correct + 2 * 11 * (robust + 40)


def test_pgd_is_deterministic_for_a_seed(trained):
    target, x, y = trained
    threat = ThreatModel(Norm.L2, 0.3)
    a = run_attack(PGD(steps=5), target, x, y, threat, seed=4).x_adv
    b = run_attack(PGD(steps=5), target, x, y, threat, seed=4).x_adv
    torch.testing.assert_close(a, b)


def test_eot_samples_multiply_the_queries_and_repr_shows_hyperparameters(trained):
    target, x, y = trained
    q0 = target.queries
    PGD(steps=1, eot_samples=4).perturb(
        target, x[:10], y[:10], ThreatModel("linf", 0.01), torch.Generator()
    )
    assert target.queries - q0 == 40
    assert "eot_samples=4" in repr(PGD(eot_samples=4)) and "schedule='constant'" in repr(PGD())


@pytest.mark.parametrize(
    "kwargs", [{"steps": 0}, {"restarts": 0}, {"schedule": "exp"}, {"loss": "hinge"}]
)
def test_bad_hyperparameters_are_rejected(kwargs):
    with pytest.raises(ConfigError):
        PGD(**kwargs)
