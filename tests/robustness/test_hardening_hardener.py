"""``AdversarialHardener``: the training epsilon joins the evasion grid; the hardened copy."""

import numpy as np
import pytest
import torch
from torch import nn

from aiarmor.core.errors import ConfigError
from aiarmor.core.hardener import Hardener
from aiarmor.core.policy import parse_policy
from aiarmor.data.dataset import Dataset
from aiarmor.robustness.hardening import AdversarialHardener, TrainingConfig, with_training_epsilon
from aiarmor.targets import TorchTarget


def test_the_training_epsilon_joins_the_default_grid_unless_the_policy_sets_one():
    config = TrainingConfig(epsilon=0.15)
    grid = with_training_epsilon(parse_policy(""), config, (64,)).params_for("robustness.evasion")
    assert grid["epsilons"] == [0.025, 0.05, 0.1, 0.15, 0.2] and grid["norm"] == "linf"
    own = parse_policy('[checks."robustness.evasion"]\nepsilons = [0.3]\n')
    assert with_training_epsilon(own, config, (64,)) is own
    l2 = with_training_epsilon(parse_policy(""), TrainingConfig(epsilon=1.0, norm="l2"), (64,))
    assert 1.0 in l2.params_for("robustness.evasion")["epsilons"]


def test_the_hardener_trains_a_copy_and_records_its_settings():
    rng = np.random.default_rng(0)
    x = rng.random((64, 4), dtype=np.float32)
    train = Dataset(x=x, y=(x[:, 0] > 0.5).astype(np.int64), name="toy")
    torch.manual_seed(0)
    target = TorchTarget(nn.Sequential(nn.Linear(4, 2)).eval(), n_classes=2, bounds=(0.0, 1.0),
                         name="toy")  # fmt: skip
    original = {k: v.clone() for k, v in target.module.state_dict().items()}
    epochs = []
    config = TrainingConfig(epsilon=0.1, epochs=2, steps=2, batch_size=32)
    hardener = AdversarialHardener(config, on_epoch=epochs.append)
    assert isinstance(hardener, Hardener)
    hardened = hardener.transform(target, train, train)
    assert [s.epoch for s in epochs] == [1, 2]
    assert hardened.target.name == "toy + pgd adversarial training"
    assert hardened.model is hardened.result.model is not target.module
    for k, v in target.module.state_dict().items():
        assert torch.equal(v, original[k])  # the original is left as it was
    info = hardened.info["hardening"]
    assert info["epsilon"] == 0.1 and info["norm"] == "linf" and len(info["history"]) == 2
    policy = hardener.policy_for(parse_policy(""), train)
    assert 0.1 in policy.params_for("robustness.evasion")["epsilons"]


def test_an_invalid_config_fails_before_any_hardener_exists():
    with pytest.raises(ConfigError, match="epsilon must be a finite number > 0"):
        AdversarialHardener(TrainingConfig(epsilon=0.0))
