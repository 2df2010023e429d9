"""The fairness.group_metrics check: planted bias is flagged, no bias is not, and the contract."""

import fnmatch
import json

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from aiarmor import audit
from aiarmor.core.findings import Severity
from aiarmor.core.policy import Policy, Threshold
from aiarmor.core.registry import get_check
from aiarmor.data.dataset import Dataset
from aiarmor.reporting import validate_report

from .conftest import PlantedTarget, planted, rates_data

CHECK = "fairness.group_metrics"


def _run(target, data, **params):
    policy = Policy(checks={CHECK: params}) if params else None
    report = audit(target, data, checks=[CHECK], budget="quick", seed=0, policy=policy)
    return report, report.check(CHECK)


def _active(result, minimum=Severity.LOW):
    return [f for f in result.findings if f.severity >= minimum]


def test_planted_bias_is_flagged_with_the_four_fifths_rule():
    rng = np.random.default_rng(0)
    groups, y, p = rates_data(rng, {"Female": (1000, 0.3, 0.15), "Male": (1000, 0.3, 0.45)})
    report, result = _run(*planted(groups, y, p))
    assert result.status.value == "failed"
    titles = " | ".join(f.title for f in _active(result))
    assert "Selection rates differ between groups for sex" in titles
    assert "four-fifths rule" in titles
    expected = demographic_parity_difference(y, p, sensitive_features=groups)
    assert result.metrics["demographic_parity_difference.sex"] == pytest.approx(expected)
    assert result.metrics["demographic_parity_difference_ci_low.sex"] > 0.1
    finding = next(f for f in result.findings if "four-fifths" in f.title)
    assert finding.evidence["value"] < 0.8 and finding.evidence["ci"][1] < 0.8
    assert "OWASP-ML:ML08" in finding.standards and "NIST-AI-RMF:MEASURE-2.11" in finding.standards
    validate_report(json.loads(json.dumps(report.to_dict(), allow_nan=False)))


def test_no_bias_is_not_flagged():
    rng = np.random.default_rng(1)
    groups, y, p = rates_data(rng, {"Female": (1000, 0.3, 0.3), "Male": (1000, 0.3, 0.3)})
    _, result = _run(*planted(groups, y, p))
    assert result.status.value == "passed"
    assert _active(result, Severity.INFO) == []
    low = result.metrics["demographic_parity_difference_ci_low.sex"]
    high = result.metrics["demographic_parity_difference_ci_high.sex"]
    assert low <= 0.1 and low <= result.metrics["demographic_parity_difference.sex"] <= high


def test_a_gap_on_a_small_sample_is_inconclusive_not_a_finding():
    rng = np.random.default_rng(2)
    groups, y, p = rates_data(rng, {"Female": (40, 0.3, 0.25), "Male": (40, 0.3, 0.45)})
    _, result = _run(*planted(groups, y, p))
    assert _active(result) == []
    notes = [f for f in result.findings if "not statistically conclusive" in f.title]
    assert len(notes) == 1 and notes[0].severity is Severity.INFO


def test_equalized_odds_gap_is_flagged_when_selection_rates_match():
    rng = np.random.default_rng(3)
    n = 1000
    groups = np.repeat(np.array(["A", "B"]), n)
    y = (rng.random(2 * n) < 0.5).astype(np.int64)
    # A: decisions follow the label; B: decisions are coin flips at the same overall rate
    p = np.where(groups == "A", y, (rng.random(2 * n) < y.mean()).astype(np.int64))
    _, result = _run(*planted(groups, y, p))
    titles = [f.title for f in _active(result)]
    assert any("Error rates differ" in t for t in titles)
    assert not any("Selection rates differ" in t for t in titles)
    expected = equalized_odds_difference(y, p, sensitive_features=groups)
    assert result.metrics["equalized_odds_difference.sex"] == pytest.approx(expected)


def test_intersections_small_groups_and_metric_names():
    rng = np.random.default_rng(4)
    spec = {"F": (600, 0.3, 0.3), "M": (600, 0.3, 0.3)}
    sex, y, p = rates_data(rng, spec)
    race = rng.choice(np.array(["x", "y"]), len(y), p=[0.98, 0.02])
    target, data = planted({"sex": sex, "race": race}, y, p)
    _, result = _run(target, data)
    m = result.metrics
    assert "selection_rate.sex=F" in m and "count.sex&race=M&x" in m
    assert "demographic_parity_difference.sex&race" in m
    assert m["count.race=y"] < 30 and m["n_small_groups.race"] == 1
    assert m["n_small_groups.sex&race"] >= 1
    small = [f for f in result.findings if "too small to compare" in f.title]
    assert small and all(f.severity is Severity.INFO for f in small)
    patterns = get_check(CHECK).metrics
    assert all(any(fnmatch.fnmatchcase(k, pat) for pat in patterns) for k in m)
    chart = next(c for c in result.charts if c.id == "rates-sex")
    assert chart.kind == "bar" and all(s.yerr is not None for s in chart.series)
    assert {s.name for s in chart.series} == {"selection rate", "TPR", "FPR"}


def test_params_choose_attributes_and_turn_off_intersections():
    rng = np.random.default_rng(5)
    sex, y, p = rates_data(rng, {"F": (300, 0.3, 0.3), "M": (300, 0.3, 0.3)})
    race = rng.choice(np.array(["x", "y"]), len(y))
    target, data = planted({"sex": sex, "race": race}, y, p)
    _, result = _run(target, data, attributes=["race"], intersections=False)
    assert {k.split(".", 1)[1] for k in result.metrics if k.startswith("demographic")} == {"race"}
    _, bad = _run(target, data, attributes=["postcode"])
    assert bad.status.value == "error" and "postcode" in bad.reason


def test_a_policy_threshold_on_a_named_metric_applies():
    rng = np.random.default_rng(6)
    groups, y, p = rates_data(rng, {"F": (500, 0.3, 0.3), "M": (500, 0.3, 0.35)})
    target, data = planted(groups, y, p)
    policy = Policy(
        thresholds=(Threshold(CHECK, "selection_rate.sex=*", min=0.5, severity=Severity.LOW),)
    )
    report = audit(target, data, checks=[CHECK], budget="quick", policy=policy)
    titles = [f.title for f in report.check(CHECK).findings]
    assert any(t.startswith("Policy threshold: selection_rate.sex=F") for t in titles)


def test_skips_without_sensitive_attributes_and_for_unspecified_multiclass():
    x = np.arange(60, dtype=np.float32)[:, None]
    y = np.arange(60, dtype=np.int64) % 3
    target = PlantedTarget(y, n_classes=3)
    _, plain = _run(target, Dataset(x=x, y=y))
    assert plain.status.value == "skipped" and "no sensitive attributes" in plain.reason
    groups = {"sex": np.array(["F", "M"] * 30)}
    _, multi = _run(target, Dataset(x=x, y=y, sensitive=groups))
    assert multi.status.value == "skipped" and "positive_class" in multi.reason
    _, chosen = _run(target, Dataset(x=x, y=y, sensitive=groups), positive_class=2)
    assert chosen.status.value == "passed"
    assert chosen.metrics["selection_rate.sex=F"] == pytest.approx(1 / 3, abs=0.05)


def test_adult_model_shows_the_known_sex_disparity(adult_small):
    from aiarmor.targets import SklearnTarget

    model, _, test = adult_small
    _, result = _run(SklearnTarget(model), test, intersections=False)
    assert result.metrics["selection_rate.sex=Female"] < result.metrics["selection_rate.sex=Male"]
    assert result.metrics["demographic_parity_ratio_ci_high.sex"] < 0.8
