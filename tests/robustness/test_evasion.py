"""robustness.evasion: findings, the masking sanity attack, skipping and determinism."""

import numpy as np
import pytest
import torch

from aiarmor import audit
from aiarmor.core import Budget, CheckContext, CheckStatus, Severity
from aiarmor.data.dataset import Dataset
from aiarmor.robustness.evasion import EvasionCheck
from aiarmor.targets import SklearnTarget, TorchTarget


class RoundedInput(torch.nn.Module):
    """Quantizes its input with a zero-gradient rounding: a classic gradient-masking defence."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(
            x + (torch.round(x * 2) / 2 - x).detach() * 0 + (torch.round(x * 2) / 2 - x)
        )


@pytest.fixture(scope="module")
def setup():
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
    return model.eval(), Dataset(x=x, y=y, name="sums")


def _run(target, data, seed=0, **params):
    ctx = CheckContext(target=target, data=data, train=None,
                       params=EvasionCheck.resolve_params(params), budget=Budget.QUICK,
                       seed=seed, check_id=EvasionCheck.id)  # fmt: skip
    return EvasionCheck().run(ctx)


def test_fragile_model_gets_a_high_finding_and_a_falling_curve(setup):
    model, data = setup
    out = _run(TorchTarget(model, n_classes=2, bounds=(0.0, 1.0)), data)
    curve = [out.metrics[f"robust_accuracy.eps={e:g}"] for e in (0.02, 0.05, 0.1, 0.2)]
    assert curve == sorted(curve, reverse=True)
    assert out.metrics["sanity_accuracy"] < 0.05
    (finding,) = out.findings
    assert finding.severity is Severity.HIGH and "epsilon 0.1" in finding.title


def test_masked_gradients_are_flagged(setup):
    model, data = setup
    masked = TorchTarget(RoundedInput(model).eval(), n_classes=2, bounds=(0.0, 1.0))
    out = _run(masked, data, min_robust_accuracy=0.0)
    titles = [f.title for f in out.findings]
    assert any("Gradient masking suspected" in t for t in titles)


def test_policy_grid_and_threshold_and_determinism(setup):
    model, data = setup
    target = TorchTarget(model, n_classes=2, bounds=(0.0, 1.0))
    a = _run(target, data, seed=2, epsilons=[0.01], min_robust_accuracy=0.0)
    b = _run(target, data, seed=2, epsilons=[0.01], min_robust_accuracy=0.0)
    assert a.metrics == b.metrics
    assert a.findings == ()
    assert set(k for k in a.metrics if k.startswith("robust_accuracy.")) == {
        "robust_accuracy.eps=0.01"
    }


def test_black_box_targets_are_skipped_with_a_reason(setup):
    from sklearn.linear_model import LogisticRegression

    _, data = setup
    clf = LogisticRegression().fit(data.x, data.y)
    report = audit(SklearnTarget(clf), data, checks=["robustness.evasion"])
    result = report.check("robustness.evasion")
    assert result.status is CheckStatus.SKIPPED and "differentiable" in result.reason
