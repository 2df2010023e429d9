"""privacy.extraction: a simple model is copied cheaply; hardening modes are compared."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from aiarmor.core import Budget, CheckContext, Severity
from aiarmor.data.dataset import Dataset
from aiarmor.privacy.extraction import ExtractionCheck, harden_label, harden_rounded
from aiarmor.targets import SklearnLabelTarget, SklearnTarget


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[0, 0, 0, 0], [3, 0, 0, 0], [0, 3, 0, 0]], dtype=np.float32)
    x = (rng.normal(size=(n, 4)) + centers[y]).astype(np.float32)
    return Dataset(x=x, y=y.astype(np.int64), name=f"blobs{seed}")


def _ctx(target, train, test, seed=0, **params):
    params.setdefault("epochs", 30)
    return CheckContext(
        target=target,
        data=test,
        train=train,
        params=ExtractionCheck.resolve_params(params),
        budget=Budget.QUICK,
        seed=seed,
        check_id=ExtractionCheck.id,
    )


@pytest.fixture(scope="module")
def model():
    train = _blobs(600, 1)
    return LogisticRegression().fit(train.x, train.y), train, _blobs(200, 2)


def test_a_linear_model_is_copied_cheaply(model):
    clf, train, test = model
    target = SklearnTarget(clf)
    out = ExtractionCheck().run(_ctx(target, train, test, budgets=[100, 500]))
    assert out.metrics["fidelity.natural.budget=500.output=full"] > 0.9
    assert out.metrics["queries"] == target.queries - 200  # the reference pass is counted too
    titles = [f.title for f in out.findings if f.severity is Severity.HIGH]
    assert titles and "queries" in titles[0]
    info = [f for f in out.findings if f.severity is Severity.INFO]
    assert set(info[0].evidence["fidelity_by_output"]) == {"full", "rounded", "label"}


def test_label_only_target_is_attacked_with_labels(model):
    clf, train, test = model
    out = ExtractionCheck().run(_ctx(SklearnLabelTarget(clf), train, test, budgets=[200]))
    assert set(k.split(".output=")[1] for k in out.metrics if k.startswith("fidelity.")) == {
        "label"
    }


def test_without_training_data_the_held_out_set_is_split(model):
    clf, _, test = model
    out = ExtractionCheck().run(_ctx(SklearnTarget(clf), None, test, budgets=[50]))
    assert out.metrics["fidelity.natural.budget=50.output=full"] > 0.5


def test_deterministic_and_budgets_validated(model):
    clf, train, test = model
    a = ExtractionCheck().run(_ctx(SklearnTarget(clf), train, test, seed=4, budgets=[100]))
    b = ExtractionCheck().run(_ctx(SklearnTarget(clf), train, test, seed=4, budgets=[100]))
    assert a.metrics == b.metrics
    from aiarmor.core import ConfigError

    with pytest.raises(ConfigError, match=r"budgets\[0\]: must be in \[1, inf\]"):
        ExtractionCheck().run(_ctx(SklearnTarget(clf), train, test, budgets=[0]))


def test_hardening_functions():
    p = np.array([[0.62, 0.33, 0.05], [0.04, 0.03, 0.93]])
    np.testing.assert_allclose(harden_label(p), [[1, 0, 0], [0, 0, 1]])
    r = harden_rounded(p)
    np.testing.assert_allclose(r.sum(axis=1), 1.0)
    assert (r.argmax(axis=1) == p.argmax(axis=1)).all()
