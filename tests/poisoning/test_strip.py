"""STRIP flags trigger-carrying inputs at the calibrated false-rejection rate."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from aiarmor.core.errors import ConfigError
from aiarmor.data import load_digits_demo
from aiarmor.poisoning import STRIP, badnets, badnets_trigger
from aiarmor.targets import CallableLabelTarget, CallableTarget, TorchTarget


@pytest.fixture(scope="module")
def digits():
    return load_digits_demo(seed=0)


def _backdoored(train):
    """Logistic regression on digits, overridden to class 0 when the 3x3 corner is saturated."""
    clf = LogisticRegression(max_iter=300).fit(train.x.reshape(len(train), -1), train.y)

    def fn(x):
        p = clf.predict_proba(x.reshape(len(x), -1))
        hit = x[:, 0, -3:, -3:].reshape(len(x), -1).min(axis=1) >= 0.99
        p[hit] = np.eye(10)[0]
        return p

    return CallableTarget(fn, n_classes=10, bounds=(0.0, 1.0))


def test_triggered_inputs_are_flagged_clean_ones_pass(digits):
    train, test = digits
    target = _backdoored(train)
    half = len(test) // 2
    strip = STRIP(n_overlays=16, seed=0).fit(target, test.x[:half])
    clean = test.x[half:]
    trig = np.ones_like(clean)
    trig[:] = clean
    trig[:, :, -3:, -3:] = 1.0  # a saturated patch survives any overlay
    frr = strip.predict(clean).mean()
    far = 1.0 - strip.predict(trig).mean()
    assert frr < 0.12
    assert far < 0.05
    assert strip.threshold_ == pytest.approx(np.quantile(strip.clean_scores_, 0.05))


def test_scores_are_deterministic_and_validated(digits):
    train, test = digits
    target = _backdoored(train)
    a = STRIP(n_overlays=4, seed=3).fit(target, test.x[:50]).score(test.x[50:60])
    b = STRIP(n_overlays=4, seed=3).fit(target, test.x[:50]).score(test.x[50:60])
    np.testing.assert_array_equal(a, b)
    assert "n_overlays=4" in repr(STRIP(n_overlays=4))
    with pytest.raises(ConfigError, match="probabilities"):
        STRIP().fit(CallableLabelTarget(lambda x: np.zeros(len(x), int), n_classes=2), test.x)
    with pytest.raises(ConfigError, match="frr"):
        STRIP(frr=0.0).fit(target, test.x[:10])


@pytest.mark.slow
def test_strip_on_a_real_badnets_cnn(digits):
    """BadNets 10% on digits with the demo CNN: FAR below 5% at about 5% FRR (issue #7 goal)."""
    from aiarmor.demo import build_model, train_classifier

    train, test = digits
    poisoned = badnets(train, rate=0.1, target_class=0, seed=1)
    model = train_classifier(build_model(), poisoned.data, seed=0)
    target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0))
    half = len(test) // 2
    strip = STRIP(seed=0).fit(target, test.x[:half])
    clean = test.x[half:][test.y[half:] != 0]
    trig = badnets_trigger(clean)
    assert (target.predict(trig) == 0).mean() > 0.9  # the backdoor works
    assert strip.predict(clean).mean() < 0.1
    assert 1.0 - strip.predict(trig).mean() < 0.05
