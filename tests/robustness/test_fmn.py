"""FMN: the closed-form minimal norm of a linear model, smaller than PGD's, re-verified."""

import math

import pytest
import torch

from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks.base import run_attack
from aiarmor.robustness.attacks.fmn import (
    FMN,
    minimal_perturbations,
    smallest_norms,
    widest_threat,
)
from aiarmor.robustness.attacks.pgd import PGD
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import TorchTarget


@pytest.fixture(scope="module")
def linear():
    """Two classes, logits (0, w.x + b): the margin is linear, so the minimal norms are known."""
    gen = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(6, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.cat([torch.zeros(1, 6), torch.randn(1, 6, generator=gen)]))
        lin.bias.copy_(torch.tensor([0.0, 0.1]))
    x = torch.rand(30, 6, generator=gen)
    with torch.no_grad():
        y = lin(x).argmax(dim=1)
    # wide bounds: the minimal perturbation is never cut by the box
    return TorchTarget(lin.eval(), n_classes=2, bounds=(-10.0, 10.0)), lin, x, y


@pytest.mark.parametrize(("norm", "dual"), [(Norm.L2, 2.0), (Norm.LINF, 1.0)])
def test_fmn_finds_the_closed_form_minimal_norm_of_a_linear_model(linear, norm, dual):
    target, lin, x, y = linear
    w, b = lin.weight[1], lin.bias[1]
    expected = (x @ w + b).abs() / torch.linalg.vector_norm(w, ord=dual)  # |margin| / ||w||_*
    norms, res = minimal_perturbations(
        target, x, y, norm=norm, bounds=(-10.0, 10.0), attack=FMN(steps=200, alpha_init=0.05)
    )
    assert bool(res.success.all())  # every result re-verified by the framework
    assert bool((norms >= expected * (1 - 1e-4)).all())  # nothing below the true minimum
    assert float((norms / expected).median()) < 1.05


def test_fmn_perturbations_are_smaller_than_pgds_at_equal_success():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(200, 8, generator=gen)
    y = (x[:, :4].sum(1) > x[:, 4:].sum(1)).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    target = TorchTarget(model.eval(), n_classes=2, bounds=(0.0, 1.0))
    pgd = run_attack(PGD(steps=20), target, x, y, ThreatModel(Norm.L2, 0.5), seed=0)
    norms, fmn = minimal_perturbations(target, x, y, norm="l2", bounds=(0.0, 1.0))
    both = pgd.success & fmn.success
    assert int(both.sum()) > 50 and not bool((pgd.success & ~fmn.success).any())
    assert float(norms[both].median()) < 0.7 * float(pgd.norms[both].median())
    assert bool((norms[both] <= pgd.norms[both] + 1e-6).float().mean() > 0.95)


def test_bounded_threat_caps_the_radius_and_norm_semantics(linear):
    target, _, x, y = linear
    res = run_attack(FMN(steps=50), target, x, y, ThreatModel(Norm.L2, 0.05, (-10.0, 10.0)))
    assert bool((res.norms <= 0.05 + 1e-6).all())
    m = smallest_norms(res)
    assert bool(torch.isinf(m[~res.success & res.clean_correct]).all())
    assert bool((m[res.success] > 0).all())
    wrong = run_attack(FMN(steps=2), target, x, 1 - y, widest_threat("l2", (-10.0, 10.0), (6,)))
    assert bool((smallest_norms(wrong) == 0).all())  # misclassified to begin with


def test_widest_threat_covers_the_domain():
    assert widest_threat("linf", (0.0, 2.0), (1, 8, 8)).epsilon == 2.0
    assert widest_threat("l2", (0.0, 1.0), (1, 8, 8)).epsilon == pytest.approx(math.sqrt(64))


def test_validation():
    with pytest.raises(ConfigError):
        FMN(gamma_init=0.0)
    with pytest.raises(ConfigError):
        FMN(steps=0)
