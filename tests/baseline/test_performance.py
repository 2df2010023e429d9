"""The baseline.performance check."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
)

from aiarmor.audit import run_check
from aiarmor.baseline import PerformanceCheck
from aiarmor.core.errors import CheckError, ConfigError
from aiarmor.core.findings import CheckOutcome, CheckStatus, Finding, Severity
from aiarmor.core.registry import Budget, CheckContext, registered
from aiarmor.data.dataset import Dataset
from aiarmor.targets import TorchTarget
from aiarmor.targets.base import ScoreTarget, Target


class TableTarget:
    """Answers row ``i`` (feature 0 holds i) with ``proba[i]``: crafted predictions."""

    def __init__(self, proba: np.ndarray) -> None:
        self.name, self.bounds, self.queries = "table", None, 0
        self.proba = np.asarray(proba, dtype=np.float64)
        self.n_classes = self.proba.shape[1]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.queries += len(x)
        return self.proba[np.asarray(x)[:, 0].astype(int)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


class LabelTarget:
    """Label-only: answers row ``i`` with ``labels[i]``."""

    def __init__(self, labels: np.ndarray, n_classes: int) -> None:
        self.name, self.n_classes, self.bounds, self.queries = "labels", n_classes, None, 0
        self.labels = labels

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.queries += len(x)
        return self.labels[np.asarray(x)[:, 0].astype(int)]


def _indexed(n: int, y: np.ndarray) -> Dataset:
    x = np.stack([np.arange(n), np.zeros(n)], axis=1).astype(np.float32)
    return Dataset(x=x, y=y.astype(np.int64))


def _run(target: Any, data: Dataset, **params: Any) -> CheckOutcome:
    ctx = CheckContext(
        target=target,
        data=data,
        train=None,
        params=PerformanceCheck.resolve_params(params),
        budget=Budget.STANDARD,
        seed=0,
        check_id=PerformanceCheck.id,
    )
    check = PerformanceCheck()
    assert check.applicable(ctx) is None
    return check.run(ctx)


def _titles(outcome: CheckOutcome, severity: Severity) -> list[Finding]:
    return [f for f in outcome.findings if f.severity is severity]


@pytest.fixture
def tabular() -> tuple[TorchTarget, Dataset]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    module = torch.nn.Linear(5, 3)
    with torch.no_grad():
        module.weight[0, 0] = 2.0  # enough signal that predictions are not all one class
    return TorchTarget(module.eval(), n_classes=3), Dataset(x=x, y=y)


def test_two_routes_same_answer_as_scikit_learn(tabular: tuple[TorchTarget, Dataset]) -> None:
    target, data = tabular
    with torch.no_grad():
        pred = target.module(torch.from_numpy(data.x)).argmax(dim=1).numpy()
    assert len(np.unique(pred)) > 1
    m = _run(target, data).metrics
    assert m["accuracy"] == pytest.approx(accuracy_score(data.y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(data.y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(data.y, pred, average="macro"))
    recall = recall_score(data.y, pred, average=None, labels=[0, 1, 2])
    for c in range(3):
        assert m[f"recall.class_{c}"] == pytest.approx(recall[c])
    assert m["min_class_recall"] == pytest.approx(recall.min())
    assert m["n_samples"] == 150
    assert target.queries == 150


def test_batching_does_not_change_metrics(tabular: tuple[TorchTarget, Dataset]) -> None:
    target, data = tabular
    a = _run(target, data, batch_size=7).metrics
    b = _run(target, data).metrics
    assert a == pytest.approx(b)


def test_metric_names_follow_the_declared_families(tabular: tuple[TorchTarget, Dataset]) -> None:
    target, data = tabular
    names = set(_run(target, data).metrics)
    plain = {m for m in PerformanceCheck.metrics if not m.endswith("*")}
    assert plain <= names
    assert names - plain == {"recall.class_0", "recall.class_1", "recall.class_2"}


def test_image_shaped_data() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = Dataset(x=rng.random((40, 1, 4, 4)).astype(np.float32), y=rng.integers(0, 2, 40))
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    m = _run(TorchTarget(module.eval(), n_classes=2), data).metrics
    assert 0.0 <= m["accuracy"] <= 1.0
    assert math.isfinite(m["ece"])


def test_min_accuracy_finding_only_when_accuracy_is_below_it() -> None:
    y = np.array([0, 1, 0, 1] * 5)
    proba = np.eye(2)[np.where(np.arange(20) < 15, y, 1 - y)] * 0.8 + 0.1  # 75 % correct
    data = _indexed(20, y)
    above = _run(TableTarget(proba), data, min_accuracy=0.8)
    below = _run(TableTarget(proba), data, min_accuracy=0.7)
    assert above.metrics["accuracy"] == pytest.approx(0.75)
    high = _titles(above, Severity.HIGH)
    assert len(high) == 1
    assert "0.750" in high[0].title
    assert high[0].standards == ("NIST-AI-RMF:MEASURE-2.5", "NIST-AI-RMF:MEASURE-2.3")
    assert _titles(below, Severity.HIGH) == []


def test_default_min_accuracy_is_off() -> None:
    y = np.array([0, 1] * 10)
    outcome = _run(TableTarget(np.eye(2)[1 - y] * 0.6 + 0.2), _indexed(20, y))
    assert outcome.metrics["accuracy"] == 0.0
    assert _titles(outcome, Severity.HIGH) == []


def test_weak_classes_are_listed() -> None:
    y = np.repeat([0, 1, 2], 10)
    pred = y.copy()
    pred[y == 2] = np.array([2, 2, 0, 0, 0, 0, 0, 0, 0, 0])  # class 2 recall 0.2
    proba = np.eye(3)[pred] * 0.7 + 0.1
    outcome = _run(TableTarget(proba), _indexed(30, y), min_class_recall=0.5)
    (finding,) = _titles(outcome, Severity.MEDIUM)
    assert [c["class"] for c in finding.evidence["classes"]] == [2]
    assert finding.evidence["classes"][0]["recall"] == pytest.approx(0.2)
    assert finding.evidence["classes"][0]["support"] == 10


def test_overconfident_model_gets_low_calibration_finding() -> None:
    y = np.array([0, 1] * 50)
    right = np.arange(100) % 4 != 0  # 75 % correct at confidence 0.99
    proba = np.where(right[:, None], np.eye(2)[y], np.eye(2)[1 - y]) * 0.98 + 0.01
    outcome = _run(TableTarget(proba), _indexed(100, y))
    assert outcome.metrics["ece"] == pytest.approx(0.24)
    (finding,) = _titles(outcome, Severity.LOW)
    assert finding.evidence["direction"] == "overconfident"
    assert "OWASP-ML:ML04" in finding.standards


def test_underconfident_model_is_called_underconfident() -> None:
    y = np.array([0, 1] * 50)
    proba = np.eye(2)[y] * 0.2 + 0.4  # always right at confidence 0.6
    (finding,) = _titles(_run(TableTarget(proba), _indexed(100, y)), Severity.LOW)
    assert finding.evidence["direction"] == "underconfident"
    assert "OWASP-ML:ML04" not in finding.standards


def test_well_calibrated_model_gets_no_calibration_finding() -> None:
    y = np.array([0, 1] * 50)
    right = np.arange(100) % 5 != 0  # 80 % correct at confidence 0.8
    proba = np.where(right[:, None], np.eye(2)[y], np.eye(2)[1 - y]) * 0.6 + 0.2
    outcome = _run(TableTarget(proba), _indexed(100, y))
    assert outcome.metrics["ece"] == pytest.approx(0.0, abs=1e-9)
    assert _titles(outcome, Severity.LOW) == []


def test_chance_level_model_gets_info_finding() -> None:
    y = np.repeat([0, 1, 2, 3], 25)
    constant = np.tile([0.7, 0.1, 0.1, 0.1], (100, 1))  # always class 0
    outcome = _run(TableTarget(constant), _indexed(100, y))
    chance = [f for f in _titles(outcome, Severity.INFO) if "chance" in f.title]
    assert len(chance) == 1
    assert chance[0].evidence["chance_level"] == pytest.approx(0.25)


def test_majority_class_predictor_on_imbalanced_data_is_at_chance() -> None:
    y = np.array([0] * 90 + [1] * 10)
    outcome = _run(TableTarget(np.tile([0.9, 0.1], (100, 1))), _indexed(100, y))
    assert outcome.metrics["accuracy"] == pytest.approx(0.9)
    assert any("chance" in f.title for f in outcome.findings)


def test_good_model_is_not_at_chance() -> None:
    y = np.repeat([0, 1, 2, 3], 25)
    outcome = _run(TableTarget(np.eye(4)[y] * 0.96 + 0.01), _indexed(100, y))
    assert outcome.metrics["accuracy"] == 1.0
    assert outcome.findings == ()


def test_label_only_target_gets_accuracy_but_no_calibration() -> None:
    y = np.array([0, 1, 2] * 10)
    target = LabelTarget(np.where(np.arange(30) < 24, y, 0), 3)
    assert isinstance(target, Target)
    assert not isinstance(target, ScoreTarget)
    outcome = _run(target, _indexed(30, y))
    assert outcome.metrics["accuracy"] == pytest.approx(accuracy_score(y, target.labels))
    assert all(math.isnan(outcome.metrics[k]) for k in ("ece", "mce", "nll"))
    assert any("Calibration not measured" in f.title for f in outcome.findings)
    assert [c.id for c in outcome.charts] == ["class_recall"]


def test_charts_reliability_has_only_nonempty_bins() -> None:
    y = np.array([0, 1] * 10)
    proba = np.eye(2)[y] * 0.5 + 0.25  # all at confidence 0.75: one bin
    outcome = _run(TableTarget(proba), _indexed(20, y))
    reliability, recall = outcome.charts
    assert reliability.kind == "reliability"
    assert reliability.series[0].x == pytest.approx((0.75,))
    assert reliability.series[0].y == (1.0,)
    assert recall.kind == "bar"
    assert recall.series[0].x == ("class 0", "class 1")


def test_class_absent_from_data_reports_nan_recall() -> None:
    y = np.array([0, 1] * 10)
    proba = np.hstack([np.eye(2)[y] * 0.8 + 0.05, np.full((20, 1), 0.1)])
    m = _run(TableTarget(proba), _indexed(20, y)).metrics
    assert math.isnan(m["recall.class_2"])
    assert m["min_class_recall"] == 1.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_accuracy": "high"}, "expected a number"),
        ({"batch_size": 1.5}, "expected an integer"),
        ({"max_ece": True}, "expected a number"),
        ({"min_accuracy": 1.5}, "must be in [0, 1]"),
        ({"batch_size": 0}, "must be in [1, inf]"),
        ({"min_acuracy": 0.5}, "unknown parameter"),
    ],
)
def test_policy_params_are_validated(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PerformanceCheck.resolve_params(params)


def test_integer_threshold_is_coerced_to_float() -> None:
    assert PerformanceCheck.resolve_params({"min_accuracy": 1})["min_accuracy"] == 1.0


def test_target_that_returns_non_probabilities_is_an_error() -> None:
    y = np.array([0, 1] * 5)
    with pytest.raises(CheckError, match="probabilities"):
        _run(TableTarget(np.eye(2)[y] * 3.0), _indexed(10, y))


def test_labels_beyond_the_model_classes_are_an_error() -> None:
    y = np.array([0, 1, 2] * 3)
    with pytest.raises(CheckError, match="label 2"):
        _run(TableTarget(np.tile([0.5, 0.5], (9, 1))), _indexed(9, y))


def test_not_applicable_without_a_target() -> None:
    ctx = CheckContext(
        target=object(),
        data=_indexed(4, np.array([0, 1, 0, 1])),
        train=None,
        params=PerformanceCheck.resolve_params({}),
        budget=Budget.QUICK,
        seed=0,
        check_id=PerformanceCheck.id,
    )
    result = run_check(PerformanceCheck, ctx)  # the orchestrator reads requires
    assert result.status is CheckStatus.SKIPPED
    assert result.reason == "the target does not answer label queries"


def test_registered_and_discoverable() -> None:
    assert registered()["baseline.performance"] is PerformanceCheck
    described = PerformanceCheck.describe()
    assert {p["name"] for p in described["parameters"]} == {
        "min_accuracy",
        "min_class_recall",
        "max_ece",
        "batch_size",
    }
    assert "recall.*" in described["metrics"]
    assert "Standards" in described["description"]
