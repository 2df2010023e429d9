"""robustness.evasion: findings, metrics and charts, masking, EOT, defaults, skipping."""

import math

import numpy as np
import pytest
import torch

from aiarmor import audit
from aiarmor.core import Budget, CheckContext, CheckStatus, Severity
from aiarmor.core.errors import CheckError, ConfigError
from aiarmor.data.dataset import Dataset
from aiarmor.robustness.evasion import EvasionCheck, default_epsilons
from aiarmor.robustness.threat import Norm
from aiarmor.targets import SklearnTarget, TorchTarget

from .conftest import Noisy, Quantized


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    x = rng.random((150, 8), dtype=np.float32)
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


def _run(target, data, seed=0, budget=Budget.QUICK, **params):
    ctx = CheckContext(
        target=target,
        data=data,
        train=None,
        params=EvasionCheck.resolve_params(params),
        budget=budget,
        seed=seed,
        check_id=EvasionCheck.id,
    )
    return EvasionCheck().run(ctx)


def _torch(module):
    return TorchTarget(module.eval(), n_classes=2, bounds=(0.0, 1.0))


def test_fragile_model_gets_a_high_finding_a_curve_and_charts(setup):
    model, data = setup
    out = _run(_torch(model), data)
    grid = (0.025, 0.05, 0.1, 0.2)
    curve = [out.metrics[f"robust_accuracy.eps={e:g}"] for e in grid]
    assert curve == sorted(curve, reverse=True) and curve[-1] < 0.3
    for e in grid:
        assert (
            out.metrics[f"robust_accuracy_ci_low.eps={e:g}"]
            <= out.metrics[f"robust_accuracy.eps={e:g}"]
            <= out.metrics[f"robust_accuracy_ci_high.eps={e:g}"]
        )
    assert out.metrics["n_samples"] == 150 and out.metrics["eot_samples"] == 1
    assert 0 < out.metrics["median_min_perturbation"] < 1
    assert out.metrics["masking.zero_gradients"] == 0.0
    assert any(k.startswith("fooled_by.APGD-CE.") for k in out.metrics)
    (finding,) = out.findings
    assert finding.severity is Severity.HIGH and "epsilon 0.2" in finding.title
    assert "ATLAS:AML.T0043" in finding.standards and "OWASP-ML:ML01" in finding.standards
    assert {c.id for c in out.charts} == {"accuracy_vs_epsilon", "min_perturbation"}
    line = next(c for c in out.charts if c.id == "accuracy_vs_epsilon")
    assert line.kind == "line" and line.series[0].x[0] == 0.0 and len(line.series[0].x) == 5


def test_masked_gradients_are_flagged(setup):
    model, data = setup
    out = _run(_torch(Quantized(model)), data, min_robust_accuracy=0.0)
    titles = [f.title for f in out.findings]
    assert "Gradient masking suspected (zero gradients)" in titles
    assert "Gradient masking suspected (unbounded attack)" in titles
    masking = [f for f in out.findings if f.title.startswith("Gradient masking")]
    assert all(f.severity is Severity.MEDIUM for f in masking)
    assert all("ATLAS:AML.T0015" in f.standards for f in masking)


def test_randomized_model_is_attacked_with_eot_and_reported(setup):
    model, data = setup
    out = _run(_torch(Noisy(model)), data, n_samples=40, min_robust_accuracy=0.0, epsilons=[0.1])
    assert out.metrics["eot_samples"] == 5 and out.metrics["masking.randomized"] == 5
    (info,) = [f for f in out.findings if f.severity is Severity.INFO]
    assert "Expectation over Transformation" in info.title


def test_policy_grid_threshold_reference_and_determinism(setup):
    model, data = setup
    target = _torch(model)
    a = _run(
        target,
        data,
        seed=2,
        epsilons=[0.01, 0.2],
        min_robust_accuracy=0.5,
        reference_epsilon=0.01,
        diagnostics=False,
    )
    b = _run(
        target,
        data,
        seed=2,
        epsilons=[0.01, 0.2],
        min_robust_accuracy=0.5,
        reference_epsilon=0.01,
        diagnostics=False,
    )
    assert a.metrics == b.metrics
    assert a.findings == ()  # robust enough at the reference epsilon 0.01
    assert not any(k.startswith("masking.") for k in a.metrics)
    assert {k for k in a.metrics if k.startswith("robust_accuracy.")} == {
        "robust_accuracy.eps=0.01",
        "robust_accuracy.eps=0.2",
    }
    c = _run(target, data, seed=2, epsilons=[0.01, 0.2], min_robust_accuracy=0.5, diagnostics=False)
    assert "epsilon 0.2" in c.findings[0].title  # default reference: the largest epsilon


def test_default_grids_are_relative_to_the_bounds_and_size():
    assert default_epsilons(Norm.LINF, (0.0, 1.0), 64) == (0.025, 0.05, 0.1, 0.2)
    assert default_epsilons(Norm.LINF, (0.0, 255.0), 64) == (6.375, 12.75, 25.5, 51.0)
    cifar = default_epsilons(Norm.LINF, (0.0, 1.0), 3 * 32 * 32)
    assert cifar == tuple(round(k / 255, 6) for k in (1, 2, 4, 8))
    assert default_epsilons(Norm.L2, (0.0, 1.0), 64) == (0.05, 0.1, 0.2, 0.4)
    assert default_epsilons(Norm.L2, (0.0, 1.0), 64, [0.3, 0.1, 0.3]) == (0.1, 0.3)
    for bad in ([], [0], ["a"], [True]):
        with pytest.raises(CheckError):
            default_epsilons(Norm.L2, (0.0, 1.0), 64, bad)


def test_black_box_targets(setup):
    from sklearn.linear_model import LogisticRegression

    _, data = setup
    clf = LogisticRegression().fit(data.x, data.y)
    report = audit(SklearnTarget(clf), data, checks=["robustness.evasion"], budget="quick")
    result = report.check("robustness.evasion")
    assert result.status in (CheckStatus.PASSED, CheckStatus.FAILED), result.reason
    assert math.isnan(result.metrics["masking.zero_gradients"])  # white-box tests skipped


def test_label_only_targets_run_hopskipjump(setup):
    _, data = setup

    class LabelsOnly:
        name, n_classes, bounds, queries = "labels", 2, (0.0, 1.0), 0

        def predict(self, x):
            return (np.asarray(x)[:, 0] > 0.5).astype(np.int64)

    reason = EvasionCheck().applicable(
        CheckContext(
            target=LabelsOnly(),
            data=data,
            train=None,
            params=EvasionCheck.resolve_params({}),
            budget=Budget.QUICK,
            seed=0,
            check_id=EvasionCheck.id,
        )
    )
    assert reason is None


def test_bad_norm_is_an_error(setup):
    model, data = setup
    report = audit(_torch(model), data, checks=["robustness.evasion"], budget="quick", policy=None)
    assert report.check("robustness.evasion").status in (CheckStatus.PASSED, CheckStatus.FAILED)
    with pytest.raises(ConfigError, match="must be one of linf, l2, got 'l1'"):
        EvasionCheck.resolve_params({"norm": "l1"})  # refused when the policy loads
    for bad in ([-0.1, 0.05], [], [float("nan")], ["big"]):
        with pytest.raises(ConfigError, match="epsilons"):
            EvasionCheck.resolve_params({"epsilons": bad})
    assert EvasionCheck.resolve_params({"norm": "L2"})["norm"] == "l2"
