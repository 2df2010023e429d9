"""fairness.proxy: a planted proxy is found; association alone or reliance alone is not."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from aiarmor import audit
from aiarmor.core.findings import Severity
from aiarmor.core.policy import Policy
from aiarmor.data.dataset import Dataset
from aiarmor.fairness.proxy import probe_auc, uncertainty_coefficients
from aiarmor.targets import SklearnTarget

CHECK = "fairness.proxy"
NAMES = ("proxy", "noise", "associated_unused", "legit")


@pytest.fixture(scope="module")
def planted_proxy():
    """sex is not an input; 'proxy' encodes it and drives y; 'associated_unused' encodes it too
    but the model ignores it; 'legit' drives y and is independent of sex."""
    rng = np.random.default_rng(0)
    n = 2000
    sex = rng.integers(0, 2, n)
    proxy = sex + rng.normal(0, 0.3, n)
    unused = sex + rng.normal(0, 0.3, n)
    noise, legit = rng.normal(size=n), rng.normal(size=n)
    y = (proxy + legit + rng.normal(0, 0.3, n) > 0.5).astype(np.int64)
    x = np.stack([proxy, noise, unused, legit], axis=1).astype(np.float32)
    blind = x.copy()
    blind[:, 2] = 0.0  # trained without the column: the model gives it zero weight
    model = LogisticRegression().fit(blind, y)
    assert model.coef_[0, 2] == 0.0
    groups = np.where(sex == 1, "Female", "Male")
    data = Dataset(x=x, y=y, sensitive={"sex": groups}, feature_names=NAMES, name="planted")
    return SklearnTarget(model), data


def test_the_planted_proxy_is_found_and_nothing_else(planted_proxy):
    target, data = planted_proxy
    strict = Policy(fail_on=Severity.LOW)  # the proxy finding is below the default "high"
    result = audit(target, data, checks=[CHECK], budget="quick", policy=strict).check(CHECK)
    assert result.status.value == "failed"
    (finding,) = [f for f in result.findings if f.severity >= Severity.LOW]
    assert finding.title == "Proxy for sex: the model relies on proxy"
    assert set(finding.evidence["proxies"]) == {"proxy"}
    m = result.metrics
    assert m["n_proxies.sex"] == 1
    assert m["association.sex.proxy"] > 0.3 and m["association.sex.associated_unused"] > 0.3
    assert m["reliance.proxy"] > 0.1 and m["reliance.legit"] > 0.1
    assert m.get("reliance.associated_unused", 0.0) == 0.0
    assert m["association.sex.legit"] < 0.05
    assert m["probe_auc.sex"] > 0.9
    (chart,) = result.charts
    assert chart.id == "proxy-sex" and len(chart.series) == 2


def test_uncertainty_coefficient_is_one_for_a_copy_and_zero_for_noise():
    rng = np.random.default_rng(1)
    groups = rng.choice(np.array(["a", "b", "c"]), 3000)
    copy = (groups == "a").astype(np.float32) + 2 * (groups == "b")
    noise = rng.integers(0, 2, 3000).astype(np.float32)
    u = uncertainty_coefficients(np.stack([copy, noise], axis=1), groups, seed=0)
    assert u[0] > 0.9 and u[1] < 0.01


def test_probe_auc_is_chance_without_information():
    rng = np.random.default_rng(2)
    groups = rng.choice(np.array(["a", "b"]), 600)
    auc = probe_auc(rng.normal(size=(600, 3)).astype(np.float32), groups, seed=0)
    assert 0.4 < auc < 0.6


def test_skips_images_and_data_without_sensitive_attributes(planted_proxy):
    target, data = planted_proxy
    plain = Dataset(x=data.x, y=data.y, name="plain")
    result = audit(target, plain, checks=[CHECK], budget="quick").check(CHECK)
    assert result.status.value == "skipped" and "sensitive" in result.reason
    images = Dataset(x=data.x.reshape(-1, 1, 2, 2), y=data.y, sensitive=data.sensitive)
    result = audit(target, images, checks=[CHECK], budget="quick").check(CHECK)
    assert result.status.value == "skipped" and "tabular" in result.reason


@pytest.mark.slow
def test_adult_relationship_and_marital_status_stand_in_for_sex(adult_small):
    model, _, test = adult_small
    policy = Policy(checks={CHECK: {"attributes": ["sex"]}})
    report = audit(SklearnTarget(model), test, checks=[CHECK], budget="quick", policy=policy)
    result = report.check(CHECK)
    top = max(
        (k for k in result.metrics if k.startswith("association.sex.")),
        key=result.metrics.__getitem__,
    )
    assert top == "association.sex.relationship=Husband"
    assert result.metrics["n_proxies.sex"] >= 1
