"""APGD: the reference checkpoints, the DLR losses, step halving, strength and invariants."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks.apgd import APGD, _State, apgd_checkpoints, apgd_t
from aiarmor.robustness.attacks.base import run_attack
from aiarmor.robustness.attacks.eot import dlr, margin
from aiarmor.robustness.attacks.pgd import PGD
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import TorchTarget


@pytest.fixture(scope="module")
def four_classes():
    """A small MLP trained on 4 classes (the argmax of 4 fixed projections of 10 features)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(400, 10, generator=gen)
    proj = torch.randn(10, 4, generator=gen)
    y = ((x - 0.5) @ proj).argmax(dim=1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return TorchTarget(model.eval(), n_classes=4, bounds=(0.0, 1.0)), x, y


def test_checkpoints_follow_the_reference_schedule():
    # p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), for N = 100
    assert list(apgd_checkpoints(100)) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(100)[22] == 22 and apgd_checkpoints(100)[99] == 6
    assert list(apgd_checkpoints(10)) == [2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_dlr_losses_on_hand_computed_logits():
    z = torch.tensor([[4.0, 1.0, 3.0, 0.0, 2.0]])
    y, t = torch.tensor([0]), torch.tensor([4])
    # untargeted: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3) = -(4 - 3) / (4 - 2)
    assert float(dlr(z, y, None)) == pytest.approx(-0.5)
    # targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2) = -(4 - 2) / (4 - 1.5)
    assert float(dlr(z, y, t)) == pytest.approx(-0.8)
    # with fewer classes than the denominator needs: the plain margin
    z3 = torch.tensor([[1.0, 2.0, 0.5]])
    assert float(dlr(z3, torch.tensor([0]), torch.tensor([2]))) == float(
        margin(z3, torch.tensor([0]), torch.tensor([2]))
    )


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(0.1, 50.0), shift=st.floats(-100, 100), seed=st.integers(0, 999))
def test_dlr_is_shift_and_scale_invariant(scale, shift, seed):
    z = torch.randn(8, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    y = torch.arange(8) % 6
    t = (y + 1) % 6
    for target in (None, t):
        torch.testing.assert_close(dlr(z * scale + shift, y, target), dlr(z, y, target))


def test_checkpoint_halves_the_step_and_restarts_from_the_best_point():
    n = 3
    x = torch.zeros(n, 2)
    loss = torch.tensor([1.0, 1.0, 1.0])
    s = _State.start(
        torch.arange(n),
        x,
        torch.zeros(n, dtype=torch.long),
        None,
        x + 0.1,
        loss,
        torch.ones(n, 2),
        0.4,
    )
    s.prev, s.adv = s.adv, x + 0.2
    s.record(torch.tensor([2.0, 0.5, 3.0]))  # sample 1 got worse: its best stays the start
    s.increases = torch.tensor([5.0, 5.0, 1.0])  # sample 2 rarely increased (oscillation)
    s.checkpoint(threshold=0.75 * 5)
    assert s.step.tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert torch.equal(s.adv[2], x[2] + 0.2)  # its best point
    # at the next checkpoint, a sample not reduced last time whose best did not improve halves
    s.increases = torch.tensor([5.0, 5.0, 5.0])
    s.checkpoint(threshold=0.75 * 5)
    assert s.step.tolist() == pytest.approx([0.2, 0.2, 0.2])
    assert torch.equal(s.adv[1], x[1] + 0.1)  # sample 1 restarts from its best (the start)


@settings(max_examples=15, deadline=None)
@given(
    eps=st.floats(0.01, 0.4),
    norm=st.sampled_from(list(Norm)),
    seed=st.integers(0, 99),
    targeted=st.booleans(),
)
def test_apgd_stays_in_ball_and_bounds(four_classes, eps, norm, seed, targeted):
    target, x, y = four_classes
    threat = ThreatModel(norm, eps)
    attack = APGD(steps=8, loss="dlr" if targeted else "ce", targeted=targeted, n_targets=2)
    res = run_attack(attack, target, x[:50], y[:50], threat, seed=seed)
    assert res.x_adv.shape == x[:50].shape and res.x_adv.dtype == torch.float32
    assert bool(threat.contains(x[:50], res.x_adv).all())


@pytest.mark.parametrize(("norm", "eps"), [(Norm.LINF, 0.05), (Norm.L2, 0.15)])
def test_apgd_is_at_least_as_strong_as_pgd_and_lowers_accuracy(four_classes, norm, eps):
    target, x, y = four_classes
    threat = ThreatModel(norm, eps)
    pgd = run_attack(PGD(steps=10), target, x, y, threat, seed=0)
    ce = run_attack(APGD(steps=50), target, x, y, threat, seed=0)
    t = run_attack(apgd_t(steps=50, n_targets=3), target, x, y, threat, seed=0)
    assert ce.robust_accuracy < ce.clean_accuracy - 0.2
    assert ce.robust_accuracy <= pgd.robust_accuracy + 0.01
    assert t.robust_accuracy <= pgd.robust_accuracy + 0.01


def test_targeted_runs_cover_the_runner_up_classes_only_on_robust_points(four_classes):
    target, x, y = four_classes
    threat = ThreatModel(Norm.LINF, 0.03)
    q0 = target.queries
    res = run_attack(apgd_t(steps=10, n_targets=9), target, x, y, threat, seed=1)
    # n_targets is capped at 3 (4 classes); each run costs at most 11 passes per attacked point
    assert target.queries - q0 <= 2 * len(x) + 3 * (11 + 1) * len(x)
    assert res.success.any() and not (res.success & ~res.clean_correct).any()


def test_apgd_is_deterministic_and_validates(four_classes):
    target, x, y = four_classes
    threat = ThreatModel(Norm.L2, 0.1)
    a = run_attack(APGD(steps=10), target, x, y, threat, seed=3).x_adv
    b = run_attack(APGD(steps=10), target, x, y, threat, seed=3).x_adv
    assert torch.equal(a, b)
    with pytest.raises(ConfigError):
        APGD(rho=1.5)
    with pytest.raises(ConfigError):
        APGD(loss="nll")
    assert "targeted=True" in repr(apgd_t())


def test_empty_batch():
    lin = torch.nn.Linear(3, 2)
    target = TorchTarget(lin, n_classes=2, bounds=(0.0, 1.0))
    out = APGD().perturb(
        target,
        torch.zeros(0, 3),
        torch.zeros(0, dtype=torch.long),
        ThreatModel("linf", 0.1),
        torch.Generator(),
    )
    assert out.shape == (0, 3)
    assert np.isnan(
        run_attack(
            APGD(), target, torch.zeros(0, 3), torch.zeros(0), ThreatModel("linf", 0.1)
        ).robust_accuracy
    )
