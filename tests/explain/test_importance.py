"""explain.importance: attributions checked against closed forms and scikit-learn, and the check."""

import numpy as np
import pytest
import torch
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from torch import nn

from aiarmor import audit
from aiarmor.core.findings import Severity
from aiarmor.core.policy import Policy
from aiarmor.data.dataset import Dataset
from aiarmor.explain.attribution import (
    ablation,
    explain_extremes,
    feature_names,
    integrated_gradients,
    permutation_scores,
)
from aiarmor.targets import SklearnTarget, TorchTarget
from aiarmor.targets.sklearn_target import SklearnLabelTarget

CHECK = "explain.importance"


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    return x


def _fit(x, y):
    return LogisticRegression().fit(x, y)


def test_permutation_scores_equal_scikit_learns(tabular):
    y = (tabular[:, 0] + 0.5 * tabular[:, 1] > 0).astype(np.int64)
    model = _fit(tabular, y)
    ours = permutation_scores(SklearnTarget(model), tabular, y, "abcd", n_repeats=3, seed=7)
    theirs = permutation_importance(model, tabular, y, scoring="accuracy", n_repeats=3,
                                    random_state=7)  # fmt: skip
    np.testing.assert_allclose(ours.mean, theirs.importances_mean)
    np.testing.assert_allclose(ours.std, theirs.importances_std)
    assert ours.mean.argmax() == 0


def test_ablation_of_a_logistic_regression_is_its_linear_contribution(tabular):
    y = (tabular[:, 0] - tabular[:, 2] > 0).astype(np.int64)
    model = _fit(tabular, y)
    baseline = tabular.mean(axis=0)
    rows = tabular[:5]
    classes = np.array([1, 0, 1, 0, 1])
    got = ablation(SklearnTarget(model), rows, classes, baseline)
    linear = model.coef_[0] * (rows - baseline)
    expected = np.where(classes[:, None] == 1, linear, -linear)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=2e-3)  # float32 probabilities


def _torch_target(shape=(4,), seed=0):
    torch.manual_seed(seed)
    size = int(np.prod(shape))
    module = nn.Sequential(nn.Flatten(), nn.Linear(size, 8), nn.Tanh(), nn.Linear(8, 3))
    return TorchTarget(module.eval(), n_classes=3)


def test_integrated_gradients_are_complete():
    target = _torch_target()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    baseline = np.zeros(4, np.float32)
    classes = np.array([0, 1, 2, 0, 1, 2])
    attr = integrated_gradients(target, x, classes, baseline, n_steps=256)
    proba = target.predict_proba(x)[np.arange(6), classes]
    at_base = target.predict_proba(baseline[None])[0, classes]
    np.testing.assert_allclose(attr.sum(axis=1), proba - at_base, atol=2e-3)


def test_extremes_are_the_most_and_least_confident_decisions(tabular):
    y = (tabular[:, 0] > 0).astype(np.int64)
    target = SklearnTarget(_fit(tabular, y))
    local = explain_extremes(target, tabular, tabular.mean(axis=0), n_each=2)
    confidence = target.predict_proba(tabular).max(axis=1)
    assert [e.kind for e in local] == ["most confident"] * 2 + ["least confident"] * 2
    assert local[0].confidence == pytest.approx(confidence.max())
    assert local[2].confidence == pytest.approx(confidence.min())  # the least confident first
    assert all(e.unit == "log-odds" and e.attributions.shape == (4,) for e in local)


def test_the_check_finds_single_feature_reliance(tabular):
    y = (tabular[:, 0] > 0).astype(np.int64)
    data = Dataset(x=tabular, y=y, feature_names=("income", "b", "c", "d"))
    strict = Policy(fail_on=Severity.LOW)  # the reliance finding is below the default "high"
    result = audit(SklearnTarget(_fit(tabular, y)), data, checks=[CHECK], budget="quick",
                   policy=strict).check(CHECK)  # fmt: skip
    assert result.status.value == "failed"
    m = result.metrics
    assert max((k for k in m if k.startswith("importance.")), key=m.get) == "importance.income"
    assert m["top_feature_share"] > 0.9 and m["n_explained"] == 4
    low = [f for f in result.findings if f.severity is Severity.LOW]
    assert len(low) == 1 and "income" in low[0].title
    info = next(f for f in result.findings if f.severity is Severity.INFO)
    assert len(info.evidence["local_explanations"]) == 4
    assert [c.id for c in result.charts] == ["global", "local-0", "local-1", "local-2", "local-3"]
    assert result.charts[0].series[0].yerr is not None


def test_balanced_reliance_is_not_a_finding(tabular):
    y = (tabular[:, 0] + tabular[:, 1] + tabular[:, 2] > 0).astype(np.int64)
    data = Dataset(x=tabular, y=y)
    result = audit(SklearnTarget(_fit(tabular, y)), data, checks=[CHECK], budget="quick")
    result = result.check(CHECK)
    assert result.status.value == "passed"
    assert [f.severity for f in result.findings] == [Severity.INFO]
    assert result.metrics["top_feature_share"] < 0.5


def test_label_only_targets_get_global_importance_only(tabular):
    y = (tabular[:, 0] > 0).astype(np.int64)
    target = SklearnLabelTarget(_fit(tabular, y))
    result = audit(target, Dataset(x=tabular, y=y), checks=[CHECK], budget="quick").check(CHECK)
    assert result.metrics["n_explained"] == 0 and [c.id for c in result.charts] == ["global"]


def test_torch_images_use_integrated_gradients_and_get_a_heatmap():
    target = _torch_target(shape=(1, 3, 3))
    rng = np.random.default_rng(2)
    x = rng.random((80, 1, 3, 3), dtype=np.float32)
    y = target.predict(x)
    result = audit(target, Dataset(x=x, y=y), checks=[CHECK], budget="quick").check(CHECK)
    assert result.status.value in ("passed", "failed")
    assert "integrated gradients" in result.charts[0].title
    heatmap = next(c for c in result.charts if c.kind == "heatmap")
    assert len(heatmap.series) == 3 and len(heatmap.series[0].y) == 3
    assert "importance.x[0,1,1]" in result.metrics or result.metrics["n_features"] == 9


def test_feature_names_default_to_positions():
    assert feature_names((3,), None) == ("x[0]", "x[1]", "x[2]")
    assert feature_names((1, 2, 1), None) == ("x[0,0,0]", "x[0,1,0]")
    assert feature_names((2,), ("a", "b")) == ("a", "b")
