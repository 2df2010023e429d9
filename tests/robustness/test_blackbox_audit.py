"""robustness.evasion on scikit-learn models through aiarmor.audit: Square and HopSkipJump."""

import json

import numpy as np
import pytest

from aiarmor import audit
from aiarmor.core import CheckStatus
from aiarmor.data.dataset import Dataset
from aiarmor.reporting import validate_report
from aiarmor.targets import sklearn_target


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    x = rng.random((240, 6), dtype=np.float32)
    y = (x[:, :3].sum(axis=1) > x[:, 3:].sum(axis=1)).astype(np.int64)
    return Dataset(x=x[:160], y=y[:160], name="train"), Dataset(x=x[160:], y=y[160:], name="test")


def _evasion(estimator, table):
    train, test = table
    target = sklearn_target(estimator.fit(train.x, train.y), bounds=(0.0, 1.0))
    report = audit(target, test, checks=["robustness.evasion"], budget="quick", seed=0)
    validate_report(json.loads(json.dumps(report.to_dict(), allow_nan=False)))
    return report.check("robustness.evasion")


def _curve(metrics):
    grid = (0.025, 0.05, 0.1, 0.2)  # the default Linf grid for small inputs in [0, 1]
    return [metrics[f"robust_accuracy.eps={e:g}"] for e in grid]


@pytest.mark.slow
def test_a_probabilistic_model_is_audited_with_square(table):
    from sklearn.linear_model import LogisticRegression

    result = _evasion(LogisticRegression(C=10.0), table)
    assert result.status in (CheckStatus.PASSED, CheckStatus.FAILED), result.reason
    curve = _curve(result.metrics)
    assert curve == sorted(curve, reverse=True)
    assert result.metrics["clean_accuracy"] > 0.9 and curve[-1] < 0.2  # real numbers, not a skip
    assert result.metrics["fooled_by.Square.eps=0.2"] > 0
    assert result.metrics["queries"] > 0


@pytest.mark.slow
def test_a_label_only_model_is_audited_with_hopskipjump(table):
    from sklearn.svm import LinearSVC

    result = _evasion(LinearSVC(), table)
    assert result.status in (CheckStatus.PASSED, CheckStatus.FAILED), result.reason
    curve = _curve(result.metrics)
    assert curve == sorted(curve, reverse=True)
    assert result.metrics["clean_accuracy"] > 0.9 and curve[-1] < 0.2
    assert result.metrics["fooled_by.HopSkipJump.eps=0.2"] > 0
