"""privacy.membership: leakage found on an overfit model, none on a model that never saw them."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve

from aiarmor import audit
from aiarmor.core import Budget, CheckContext, CheckStatus, Severity
from aiarmor.data.dataset import Dataset
from aiarmor.privacy import MembershipCheck, loss_scores, membership_metrics, tpr_at_fpr
from aiarmor.targets import SklearnLabelTarget, SklearnTarget


def _blobs(n, seed, noise=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.normal(size=(n, 5)) * noise + y[:, None]).astype(np.float32)
    return Dataset(x=x, y=y.astype(np.int64), name=f"blobs{seed}")


def _run(target, train, test, seed=0, budget=Budget.QUICK, **params):
    ctx = CheckContext(
        target=target,
        data=test,
        train=train,
        params=MembershipCheck.resolve_params(params),
        budget=budget,
        seed=seed,
        check_id=MembershipCheck.id,
    )
    return MembershipCheck().run(ctx)


def test_tpr_at_fpr_agrees_with_sklearn_roc_curve():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    scores = rng.normal(size=400) + labels
    fpr, tpr, _ = roc_curve(labels, scores)
    for alpha in (0.0, 0.01, 0.1, 0.5):
        expected = max((t for f, t in zip(fpr, tpr) if f <= alpha), default=0.0)
        assert tpr_at_fpr(labels, scores, alpha) == expected
    m = membership_metrics(labels, scores, rng=np.random.default_rng(1), n_boot=50)
    assert m.auc_ci[0] <= m.auc <= m.auc_ci[1]
    assert 0.5 < m.balanced_accuracy <= 1.0


def test_loss_scores_are_log_probability_of_the_true_label():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [1.0, 0.0]])
    np.testing.assert_allclose(loss_scores(proba, np.array([0, 0, 1])), np.log([0.9, 0.2, 1e-12]))


def test_overfit_model_leaks_membership():
    train, test = _blobs(300, 1), _blobs(300, 2)
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(train.x, train.y)
    out = _run(SklearnTarget(forest), train, test)
    assert out.metrics["auc"] > 0.75
    assert out.metrics["generalization_gap"] > 0.1
    severities = {f.severity for f in out.findings}
    assert Severity.HIGH in severities
    assert all("ATLAS:AML.T0024.000" in f.standards for f in out.findings)


def test_model_that_never_saw_the_members_shows_no_leakage():
    fit_on, members, others = _blobs(400, 3), _blobs(300, 4), _blobs(300, 5)
    clf = LogisticRegression().fit(fit_on.x, fit_on.y)
    out = _run(SklearnTarget(clf), members, others)
    assert out.metrics["auc_ci_low"] < 0.5 < out.metrics["auc_ci_high"] + 0.05
    assert abs(out.metrics["auc"] - 0.5) < 0.08
    assert out.findings == ()


def test_label_only_target_uses_correctness():
    train, test = _blobs(200, 6), _blobs(200, 7)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(train.x, train.y)
    out = _run(SklearnLabelTarget(forest), train, test)
    assert out.metrics["train_accuracy"] == 1.0
    assert out.metrics["auc"] > 0.55


def test_skips_without_training_data_and_is_deterministic():
    train, test = _blobs(120, 8), _blobs(120, 9)
    clf = LogisticRegression().fit(train.x, train.y)
    report = audit(SklearnTarget(clf), test, checks=["privacy.membership"])
    assert report.check("privacy.membership").status is CheckStatus.SKIPPED
    a = _run(SklearnTarget(clf), train, test, seed=3).metrics
    b = _run(SklearnTarget(clf), train, test, seed=3).metrics
    assert a == b


@pytest.mark.parametrize("params", [{"max_auc": 0.4}, {"max_tpr_at_1pct_fpr": 2.0}])
def test_params_are_range_checked(params):
    from aiarmor.core import ConfigError

    with pytest.raises(ConfigError):
        MembershipCheck.resolve_params(params)


def test_fast_bootstrap_kernels_match_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    from aiarmor.privacy.metrics import auc_sorted, tpr_sorted

    rng = np.random.default_rng(5)
    for _ in range(20):
        labels = rng.integers(0, 2, 700)
        scores = np.round(rng.normal(size=700) + 0.5 * labels, 1)  # many ties
        pos, neg = np.sort(scores[labels == 1]), np.sort(scores[labels == 0])
        assert auc_sorted(pos, neg) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        for alpha in (0.0, 0.001, 0.01, 0.1):
            assert tpr_sorted(pos, neg, alpha) == pytest.approx(tpr_at_fpr(labels, scores, alpha))
