"""SklearnTarget and CallableTarget: capabilities, label mapping, shape checks, query counts."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, RidgeClassifier

import aiarmor.targets
from aiarmor.core.errors import ConfigError, ModelLoadError
from aiarmor.targets import (
    CallableLabelTarget,
    CallableTarget,
    ScoreTarget,
    SklearnLabelTarget,
    SklearnTarget,
    Target,
    callable_target,
    capabilities,
    sklearn_target,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.random((30, 1, 2, 2))
    y = (x.reshape(30, -1).sum(axis=1) > 2).astype(int)
    return x, y


def test_public_api_is_curated():
    assert set(aiarmor.targets.__all__) >= {
        "Target",
        "ScoreTarget",
        "DifferentiableTarget",
        "capabilities",
        "TorchTarget",
        "SklearnTarget",
        "CallableTarget",
        "load_target",
    }
    assert all(hasattr(aiarmor.targets, name) for name in aiarmor.targets.__all__)


def test_sklearn_target_flattens_inputs_and_counts_queries(data):
    x, y = data
    model = LogisticRegression().fit(x.reshape(30, -1), y)
    target = SklearnTarget(model, bounds=(0, 1))
    np.testing.assert_allclose(target.predict_proba(x), model.predict_proba(x.reshape(30, -1)))
    assert target.predict(x).tolist() == model.predict(x.reshape(30, -1)).tolist()
    assert target.queries == 60
    assert target.n_classes == 2 and capabilities(target) == ("labels", "scores")


def test_string_classes_map_to_their_sorted_index(data):
    x, y = data
    names = np.array(["high", "low"])[1 - y]
    model = LogisticRegression().fit(x.reshape(30, -1), names)
    target = sklearn_target(model)
    assert target.classes == ("high", "low")
    expected = (model.predict(x.reshape(30, -1)) == "low").astype(int)
    assert target.predict(x).tolist() == expected.tolist()
    assert target.predict(x).dtype == np.int64


def test_estimator_without_predict_proba_is_label_only(data):
    x, y = data
    svc = RidgeClassifier().fit(x.reshape(30, -1), y)
    target = sklearn_target(svc)
    assert isinstance(target, SklearnLabelTarget) and isinstance(target, Target)
    assert not isinstance(target, ScoreTarget)
    assert capabilities(target) == ("labels",)
    with pytest.raises(ModelLoadError, match="no predict_proba"):
        SklearnTarget(svc)


def test_unfitted_estimator_is_refused():
    with pytest.raises(ModelLoadError, match="not a fitted scikit-learn classifier"):
        sklearn_target(LogisticRegression())


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_callable_probabilities_and_logits():
    logits = np.array([[1.0, 2.0, 0.5], [3.0, -1.0, 0.0]])
    as_logits = CallableTarget(lambda x: logits[: len(x)], n_classes=3, output="logits")
    np.testing.assert_allclose(as_logits.predict_proba(np.zeros((2, 5))), _softmax(logits))
    as_proba = CallableTarget(lambda x: _softmax(logits)[: len(x)], n_classes=3, name="f")
    assert as_proba.predict(np.zeros((2, 5))).tolist() == [1, 0]
    assert as_proba.queries == 2 and as_proba.name == "f"


def test_callable_labels_give_a_label_only_target():
    target = callable_target(lambda x: np.zeros(len(x), dtype=int), n_classes=2, output="labels")
    assert isinstance(target, CallableLabelTarget)
    assert capabilities(target) == ("labels",)
    assert target.predict(np.zeros((4, 2))).tolist() == [0, 0, 0, 0]
    with pytest.raises(ConfigError, match="CallableLabelTarget"):
        CallableTarget(lambda x: x, n_classes=2, output="labels")


def test_callable_output_is_checked():
    wrong_shape = CallableTarget(lambda x: np.ones((len(x), 2)), n_classes=3, name="scorer")
    with pytest.raises(ValueError, match=r"scorer returned an array of shape \(4, 2\)"):
        wrong_shape.predict_proba(np.zeros((4, 1)))
    out_of_range = CallableLabelTarget(lambda x: np.full(len(x), 7), n_classes=3)
    with pytest.raises(ValueError, match=r"integer labels in 0\.\.2"):
        out_of_range.predict(np.zeros((2, 1)))


def test_callable_target_validates_its_configuration():
    with pytest.raises(ConfigError, match="n_classes must be at least 2"):
        CallableTarget(lambda x: x, n_classes=1)
    with pytest.raises(ConfigError, match="expected a callable"):
        CallableTarget(42, n_classes=2)
