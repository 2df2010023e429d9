"""The areas' hardeners through ``run_hardening``, on tiny models and ``baseline.performance``
alone (the CLI tests run each with its own checks on real data)."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from aiarmor.core.errors import ConfigError
from aiarmor.data.dataset import Dataset
from aiarmor.hardening import run_hardening
from aiarmor.targets import TorchTarget, sklearn_target

PERF = ("baseline.performance",)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread avoids contention on shared cores (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _blobs(seed, n=80):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.normal(size=(n, 4)) + 2.0 * y[:, None]).astype(np.float32)
    groups = np.where(rng.random(n) < 0.5, "a", "b")
    return Dataset(x=x, y=y.astype(np.int64), sensitive={"g": groups}, name=f"blobs{seed}")


def _torch_target():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    return TorchTarget(module, n_classes=2, name="mlp")


@pytest.mark.slow  # Opacus
def test_dp_trains_a_fresh_copy_with_its_recipe_attached():
    from aiarmor.privacy import recipe_for
    from aiarmor.privacy.dp import DPSettings
    from aiarmor.privacy.dp_hardener import DPHardener

    settings = DPSettings(target_epsilon=2.0, epochs=1, batch_size=40, accountant="rdp")
    run = run_hardening(DPHardener(settings, checks=PERF), _torch_target(), _blobs(0),
                        _blobs(1), budget="quick")  # fmt: skip
    dp = run.after.subject["dp"]
    assert dp["epsilon_spent"] <= 2.0 * 1.01 and dp["accountant"] == "rdp" and dp["steps"] > 0
    assert run.hardened.target.name.startswith("mlp + DP-SGD (epsilon ")
    assert recipe_for(run.hardened.target)[1] == "attached recipe"
    m = run.after.check("privacy.dp_training").metrics
    assert m["before.epsilon"] == float("inf") and m["after.epsilon"] == dp["epsilon_spent"]
    with pytest.raises(ConfigError, match="target epsilon"):
        DPHardener(DPSettings(target_epsilon=0.0)).validate(_torch_target(), None, None)


def test_sanitize_retrains_on_the_sanitized_rows_and_lists_them():
    from aiarmor.poisoning.sanitize_hardener import SanitizeHardener
    from aiarmor.privacy.recipes import retrain_recipe

    target, train = _torch_target(), _blobs(0, n=120)
    hardener = SanitizeHardener(retrain_recipe(target.module, epochs=2), checks=PERF)
    run = run_hardening(hardener, target, train, _blobs(1), budget="quick")
    result = run.hardened.result
    assert run.hardened.train is result.sanitized.data
    assert run.after.subject["n_train"] == len(train) - len(result.sanitized.changed)
    assert run.hardened.extra["changed_rows"] == result.sanitized.changed.tolist()
    assert run.after.subject["sanitize"]["n_changed"] == len(result.sanitized.changed)
    assert "before.accuracy" in run.after.check("poisoning.sanitize").metrics


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "magic"}, "method must be one of"),
        ({"target_class": 1}, "give both the trigger and the target class"),
        ({"trigger": lambda x: x, "target_class": 5}, "target class must be in 0..1"),
    ],
)
def test_sanitize_refuses_bad_settings_before_any_audit(options, message):
    from aiarmor.poisoning.sanitize_hardener import SanitizeHardener

    hardener = SanitizeHardener(lambda x, y, seed: None, **options)
    with pytest.raises(ConfigError, match=message):
        hardener.validate(_torch_target(), None, None)


def test_fairness_audits_the_mitigated_model_on_the_data_it_takes():
    from aiarmor.fairness.hardener import FairnessHardener

    train, test = _blobs(0), _blobs(1)
    target = sklearn_target(LogisticRegression().fit(train.x, train.y), name="lr")
    hardener = FairnessHardener(("g",), checks=(*PERF, "fairness.group_metrics"))
    run = run_hardening(hardener, target, train, test, budget="quick")
    assert run.hardened.data.x.shape == (len(test), 5)  # one group-code column
    assert run.hardened.data_file == "data-with-groups.npz"
    assert run.after.subject["mitigation"]["uses_sensitive_at_decision_time"] is True
    assert run.after.subject["model_spec"] == "model.skops"
    assert "before.demographic_parity_difference.g" in run.after.check(
        "fairness.mitigation").metrics  # fmt: skip
    reductions = FairnessHardener(("g",), method="reductions", checks=PERF)
    assert reductions.transform(target, train, test).data_file is None


def test_fairness_refuses_what_it_cannot_mitigate_before_any_audit():
    from aiarmor.fairness.hardener import FairnessHardener

    train = _blobs(0)
    target = sklearn_target(LogisticRegression().fit(train.x, train.y))
    with pytest.raises(ConfigError, match="no sensitive attribute"):
        FairnessHardener(("race",)).validate(target, train, train)
