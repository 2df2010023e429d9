"""evaluate_robustness: the ensemble per budget, the curve, determinism, EOT, black-box path."""

import math

import numpy as np
import pytest
import torch

from aiarmor.core.errors import ConfigError
from aiarmor.robustness.evaluation import ensemble, evaluate_robustness, wilson_interval
from aiarmor.targets import SklearnTarget, TorchTarget


class Noisy(torch.nn.Module):
    """A randomized defence: Gaussian noise on the input at inference time."""

    def __init__(self, inner, sigma=0.05):
        super().__init__()
        self.inner, self.sigma = inner, sigma

    def forward(self, x):
        return self.inner(x + self.sigma * torch.randn_like(x))


@pytest.fixture(scope="module")
def four_classes():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200, 10, generator=gen)
    y = ((x - 0.5) @ torch.randn(10, 4, generator=gen)).argmax(dim=1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval(), x, y


def _target(model):
    return TorchTarget(model, n_classes=4, bounds=(0.0, 1.0))


def test_curve_is_monotone_with_cis_and_attack_contributions(four_classes):
    model, x, y = four_classes
    ev = evaluate_robustness(
        _target(model), x, y, norm="linf", epsilons=[0.1, 0.02, 0.05], budget="standard", seed=0
    )
    assert [p.epsilon for p in ev.points] == [0.02, 0.05, 0.1]
    accs = [a for _, a in ev.curve]
    assert accs == sorted(accs, reverse=True) and accs[0] == ev.clean_accuracy
    assert ev.points[-1].accuracy < ev.clean_accuracy - 0.2
    for p in ev.points:
        low, high = p.ci
        assert low <= p.accuracy <= high
        assert not bool((p.robust & ~ev.clean_correct).any())
    largest = ev.points[-1]  # every clean-correct point was attacked at the largest epsilon
    assert sum(largest.fooled_by.values()) == int(ev.clean_correct.sum()) - largest.n_robust
    assert set(largest.fooled_by) <= {"APGD-CE", "APGD-T", "FMN"}
    assert ev.queries > 0 and ev.eot_samples == 1 and not ev.randomized


def test_minimal_perturbations_agree_with_the_curve(four_classes):
    model, x, y = four_classes
    ev = evaluate_robustness(
        _target(model),
        x,
        y,
        norm="l2",
        epsilons=[0.1, 0.3],
        budget="quick",
        seed=0,
        min_norm_samples=10_000,
    )
    m = ev.min_norms
    assert bool((m[~ev.clean_correct] == 0).all())
    assert not bool(torch.isnan(m).any())  # FMN ran on every clean-correct point
    for p in ev.points:  # a point FMN fooled within epsilon is never reported robust
        assert not bool((p.robust & (m <= p.epsilon)).any())
    assert 0 < ev.median_min_norm < math.inf and len(ev.found_min_norms) > 0


def test_stronger_budget_is_at_least_as_strong_and_deterministic(four_classes):
    model, x, y = four_classes
    kw = {"norm": "linf", "epsilons": [0.05], "seed": 3, "min_norm_samples": 0}
    quick = evaluate_robustness(_target(model), x, y, budget="quick", **kw)
    standard = evaluate_robustness(_target(model), x, y, budget="standard", **kw)
    again = evaluate_robustness(_target(model), x, y, budget="standard", **kw)
    assert standard.points[0].accuracy <= quick.points[0].accuracy + 0.01
    assert torch.equal(standard.points[0].robust, again.points[0].robust)
    assert standard.queries == again.queries


def test_budgets_and_labels(four_classes):
    model, _, _ = four_classes
    target = _target(model)
    assert [a.name for a in ensemble(target, "quick")] == ["APGD-CE"]
    assert [a.name for a in ensemble(target, "standard")] == ["APGD-CE", "APGD-T"]
    thorough = ensemble(target, "thorough")
    assert [a.name for a in thorough] == ["APGD-CE", "APGD-T", "APGD-DLR", "Square"]
    assert "n_targets=3" in repr(thorough[1].attack)  # capped at the 4 classes minus one
    assert "eot_samples=7" in repr(ensemble(target, "standard", eot_samples=7)[0].attack)
    with pytest.raises(ConfigError, match="budget"):
        ensemble(target, "fast")


def test_randomized_model_switches_to_eot(four_classes):
    model, x, y = four_classes
    target = _target(Noisy(model).eval())
    ev = evaluate_robustness(
        target,
        x[:40],
        y[:40],
        norm="linf",
        epsilons=[0.05],
        budget="quick",
        seed=0,
        min_norm_samples=0,
    )
    assert ev.randomized and ev.eot_samples == 5
    assert all("eot_samples=5" in a for a in ev.attacks)
    plain = evaluate_robustness(
        _target(model),
        x[:40],
        y[:40],
        norm="linf",
        epsilons=[0.05],
        budget="quick",
        seed=0,
        min_norm_samples=0,
    )
    assert not plain.randomized and plain.eot_samples == 1


@pytest.mark.parametrize("epsilons", [[], [0.0], [-0.1], [float("nan")]])
def test_bad_epsilons_are_rejected(four_classes, epsilons):
    model, x, y = four_classes
    with pytest.raises(ConfigError, match="epsilons"):
        evaluate_robustness(_target(model), x, y, norm="linf", epsilons=epsilons)


def test_black_box_targets():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.random((60, 5)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    target = SklearnTarget(LogisticRegression().fit(x, y))
    ev = evaluate_robustness(target, x, y, norm="linf", epsilons=[0.05, 0.3], budget="quick")
    assert ev.attack_names == ("Square",) and ev.attacks[0].startswith("Square(")
    assert ev.points[1].accuracy <= ev.points[0].accuracy <= ev.clean_accuracy
    assert bool(torch.isnan(ev.min_norms[ev.clean_correct]).all())  # no FMN without gradients


def test_wilson_interval():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
