"""The attack template: the framework projects, re-verifies and counts; attacks only perturb."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks.base import Attack, run_attack
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import TorchTarget


def _target():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
        lin.bias.copy_(torch.tensor([-0.5, 0.5]))  # class 0 iff feature 0 > 0.5
    return TorchTarget(lin.eval(), n_classes=2, bounds=(0.0, 1.0))


@dataclass(frozen=True, kw_only=True)
class Liar(Attack):
    """Returns a huge perturbation: the framework must project it and judge it itself."""

    scale: float = 100.0

    def perturb(self, target, x, y, threat, generator):
        return x + self.scale * torch.randn(x.shape, generator=generator)


@dataclass(frozen=True, kw_only=True)
class Noop(Attack):
    """Returns the input unchanged."""

    def perturb(self, target, x, y, threat, generator):
        return x.clone()


@settings(max_examples=30, deadline=None)
@given(
    eps=st.floats(0.0, 2.0),
    norm=st.sampled_from(list(Norm)),
    seed=st.integers(0, 2**31 - 1),
)
def test_outputs_stay_in_ball_and_bounds(eps, norm, seed):
    x = torch.rand(8, 4, generator=torch.Generator().manual_seed(seed))
    y = (x[:, 0] < 0.5).long()  # class 1 when feature 0 is small
    threat = ThreatModel(norm, eps)
    res = run_attack(Liar(), _target(), x, y, threat, seed=seed)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype
    assert bool(threat.contains(x, res.x_adv).all())
    assert bool((res.norms <= eps * (1 + 1e-5) + 1e-5).all())


def test_success_is_reverified_and_queries_counted():
    x = torch.tensor([[0.9, 0, 0, 0], [0.1, 0, 0, 0], [0.6, 0, 0, 0]])
    y = torch.tensor([0, 1, 1])  # the third is misclassified already
    target = _target()
    res = run_attack(Noop(), target, x, y, ThreatModel("linf", 0.3))
    assert res.clean_correct.tolist() == [True, True, False]
    assert res.success.tolist() == [False, False, False]
    assert res.robust_accuracy == pytest.approx(2 / 3)
    assert res.queries == 3 + 2  # clean pass + verification of the two attacked
    assert res.attack == "Noop()"


def test_repr_shows_hyperparameters_and_capability_is_checked():
    assert repr(Liar(scale=2.0)) == "Liar(scale=2.0)"

    class LabelsOnly:
        name, n_classes, bounds, queries = "l", 2, None, 0

        def predict(self, x):
            return np.zeros(len(x), dtype=np.int64)

    with pytest.raises(ConfigError, match="needs a target with gradients"):
        run_attack(Liar(), LabelsOnly(), torch.zeros(1, 4), torch.zeros(1), ThreatModel("l2", 1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"norm": "l3", "epsilon": 1}, "unknown norm"),
        ({"norm": "l2", "epsilon": -1}, "epsilon"),
        ({"norm": "l2", "epsilon": 1, "bounds": (1, 0)}, "bounds"),
    ],
)
def test_threat_model_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ThreatModel(**kwargs)
