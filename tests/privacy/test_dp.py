"""DP-SGD training: the spent epsilon matches Opacus's accountant and the target, layers are
fixed or refused, training is seeded, and DP lowers measured membership leakage."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from aiarmor.core.errors import ConfigError
from aiarmor.privacy.dp import DPSettings, dp_recipe, train_dp
from aiarmor.privacy.metrics import membership_metrics
from aiarmor.privacy.reference_attacks import confidence
from aiarmor.targets import TorchTarget

sys.path.insert(0, str(Path(__file__).parent))
from mia_setup import _table, train_mlp


def _mlp(norm=False):
    layers = [nn.Linear(10, 32), *([nn.BatchNorm1d(32)] if norm else []), nn.ReLU(),
              nn.Linear(32, 4)]  # fmt: skip
    return nn.Sequential(*layers)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread avoids contention on shared cores (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


FAST = {"epochs": 4, "batch_size": 50, "lr": 0.01, "accountant": "rdp"}


@pytest.mark.slow
@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_spent_epsilon_meets_the_target_and_matches_opacus(accountant):
    from opacus.accountants import PRVAccountant, RDPAccountant

    data = _table(200, 1)
    settings = DPSettings(target_epsilon=2.0, **{**FAST, "accountant": accountant})
    result = train_dp(_mlp(), data, settings)
    assert 0.9 * 2.0 <= result.epsilon <= 2.0 * 1.01
    assert result.delta == pytest.approx(1 / 2000)
    assert result.sample_rate == pytest.approx(0.25) and result.steps == 16
    ref = {"rdp": RDPAccountant, "prv": PRVAccountant}[accountant]()
    ref.history = [(result.noise_multiplier, result.sample_rate, result.steps)]
    assert result.epsilon == pytest.approx(ref.get_epsilon(delta=result.delta), rel=1e-6)
    assert not result.model.training


@pytest.mark.slow
def test_training_is_deterministic_and_batchnorm_is_fixed():
    data = _table(120, 2)
    settings = DPSettings(target_epsilon=4.0, seed=3, **FAST)
    a, b = train_dp(_mlp(norm=True), data, settings), train_dp(_mlp(norm=True), data, settings)
    assert a.fixed_layers and "BatchNorm" in a.fixed_layers[0]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in a.model.modules())
    for pa, pb in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    with pytest.raises(ConfigError, match="cannot be trained with DP-SGD: BatchNorm"):
        train_dp(_mlp(norm=True), data, settings, fix=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target_epsilon": 0.0}, "target epsilon"),
        ({"target_epsilon": float("inf")}, "target epsilon"),
        ({"delta": 1.5}, "delta"),
        ({"accountant": "gdpx"}, "accountant"),
        ({"max_grad_norm": -1.0}, "max grad norm"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_settings_are_one_line_errors(change, message):
    settings = DPSettings(**{"target_epsilon": 1.0, **change})
    with pytest.raises(ConfigError, match=message) as info:
        train_dp(_mlp(), _table(20, 3), settings)
    assert "\n" not in str(info.value)


def test_a_non_module_is_refused():
    with pytest.raises(ConfigError, match=r"torch\.nn\.Module"):
        train_dp("model", _table(20, 3), DPSettings(target_epsilon=1.0))


def _loss_auc(model, members, others):
    target = TorchTarget(model, n_classes=4)
    scores = [np.log(confidence(target.predict_proba(d.x), d.y)) for d in (members, others)]
    labels = np.r_[np.ones(len(members)), np.zeros(len(others))]
    return membership_metrics(labels, np.concatenate(scores), rng=np.random.default_rng(0),
                              n_boot=20).auc  # fmt: skip


@pytest.mark.slow
def test_dp_lowers_membership_leakage_on_the_overfit_setup():
    members, others = _table(200, 1), _table(200, 2)
    plain = _loss_auc(train_mlp(members.x, members.y, 0), members, others)
    recipe = dp_recipe(_mlp, DPSettings(target_epsilon=1.0, **{**FAST, "epochs": 8}))
    private = _loss_auc(recipe(members.x, members.y, 0), members, others)
    assert plain > 0.6
    assert private < plain - 0.05
    assert abs(private - 0.5) < 0.08
