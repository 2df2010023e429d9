"""Group metrics: two routes, same answer (ours vs Fairlearn's own functions), and the intervals."""

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, precision_score

from aiarmor.fairness.metrics import (
    DISPARITIES,
    RATES,
    assess_attribute,
    attribute_sets,
    binarize,
    cell_counts,
    disparities_from_rates,
    fairlearn_disparities,
    group_values,
    rates_from_counts,
)

FAIRLEARN = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equal_opportunity_difference": equal_opportunity_difference,
}
PER_GROUP = {
    "selection_rate": selection_rate,
    "accuracy": accuracy_score,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "precision": lambda y, p: precision_score(y, p, zero_division=0.0),
}


def _data(seed, n=900):
    rng = np.random.default_rng(seed)
    groups = rng.choice(np.array(["a", "b", "c"]), n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < 0.4).astype(np.int64)
    p = (rng.random(n) < np.where(groups == "a", 0.6, 0.3)).astype(np.int64)
    return groups, y, p


def _assess(groups, y, p, min_group_size=30, seed=0, n_boot=200):
    rng = np.random.default_rng(seed)
    return assess_attribute(
        "g", groups, y, p, min_group_size=min_group_size, rng=rng, n_boot=n_boot
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_every_metric_equals_fairlearns_own_function(seed):
    groups, y, p = _data(seed)
    result = _assess(groups, y, p)
    for name, fn in FAIRLEARN.items():
        assert result.disparities[name] == pytest.approx(fn(y, p, sensitive_features=groups))
    for g in result.groups:
        rows = groups == g.name
        assert g.count == rows.sum()
        for rate, fn in PER_GROUP.items():
            assert g.rates[rate] == pytest.approx(fn(y[rows], p[rows])), (g.name, rate)


def test_small_groups_are_reported_but_left_out_of_the_disparities():
    groups, y, p = _data(2)
    groups = groups.astype("<U8")
    groups[:12] = "tiny"
    result = _assess(groups, y, p)
    assert [g.name for g in result.small_groups] == ["tiny"]
    keep = groups != "tiny"
    for name, fn in FAIRLEARN.items():
        expected = fn(y[keep], p[keep], sensitive_features=groups[keep])
        assert result.disparities[name] == pytest.approx(expected)


def test_one_comparable_group_gives_no_disparity():
    groups, y, p = _data(3, n=100)
    groups[:] = "a"
    groups[:10] = "b"
    result = _assess(groups, y, p)
    assert all(np.isnan(result.disparities[d]) for d in DISPARITIES)


def test_the_bootstrap_kernel_reproduces_fairlearn_on_the_observed_counts():
    groups, y, p = _data(4)
    # degenerate groups: no positives in "c", no positive decisions in "b"
    y[groups == "c"] = 0
    p[groups == "b"] = 0
    names, codes = np.unique(groups, return_inverse=True)
    rates = rates_from_counts(cell_counts(codes, y, p, len(names)))
    frame = MetricFrame(metrics=RATES, y_true=y, y_pred=p, sensitive_features=groups).by_group
    for i, name in enumerate(names):
        for rate in RATES:
            assert rates[rate][i] == pytest.approx(frame.loc[name, rate]), (name, rate)
    kernel = disparities_from_rates(rates, np.ones(len(names), bool))
    for name, value in fairlearn_disparities(y, p, groups, names).items():
        assert kernel[name] == pytest.approx(value)


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(40, 200),
    seed=st.integers(0, 2**16),
    base=st.floats(0.0, 1.0),
    selected=st.floats(0.0, 1.0),
)
def test_kernel_and_fairlearn_agree_on_any_binary_data(n, seed, base, selected):
    rng = np.random.default_rng(seed)
    groups = rng.choice(np.array(["x", "y", "z"]), n)
    y = (rng.random(n) < base).astype(np.int64)
    p = (rng.random(n) < selected).astype(np.int64)
    names, codes = np.unique(groups, return_inverse=True)
    kernel = disparities_from_rates(
        rates_from_counts(cell_counts(codes, y, p, len(names))), np.ones(len(names), bool)
    )
    for name, fn in FAIRLEARN.items():
        expected = fn(y, p, sensitive_features=groups)
        assert kernel[name] == pytest.approx(expected, nan_ok=True), name


def test_intervals_cover_the_estimate_and_have_the_textbook_width():
    rng = np.random.default_rng(5)
    n = 2000
    groups = np.repeat(np.array(["a", "b"]), n // 2)
    y = (rng.random(n) < 0.5).astype(np.int64)
    p = (rng.random(n) < 0.5).astype(np.int64)
    result = _assess(groups, y, p, n_boot=2000)
    for g in result.groups:
        low, high = g.intervals["selection_rate"]
        rate = g.rates["selection_rate"]
        assert low < rate < high
        # normal approximation: half-width 1.96 * sqrt(p(1-p)/n) for n = 1000
        assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(0.25 / 1000), rel=0.15)
    low, high = result.intervals["demographic_parity_difference"]
    assert low <= result.disparities["demographic_parity_difference"] <= high


def test_intervals_are_reproducible_for_a_seed_and_vary_without_it():
    groups, y, p = _data(6)
    a, b, c = (
        _assess(groups, y, p, seed=1),
        _assess(groups, y, p, seed=1),
        _assess(groups, y, p, seed=2),
    )
    assert a.intervals == b.intervals
    assert a.intervals != c.intervals


def test_group_values_and_attribute_sets_build_intersections():
    sensitive = {"sex": np.array(["F", "M"]), "race": np.array(["x", "y"]), "age": np.array([1, 2])}
    assert list(group_values(sensitive, ("sex", "race"))) == ["F&x", "M&y"]
    assert attribute_sets(["sex", "race", "age"], True) == [
        ("sex",),
        ("race",),
        ("age",),
        ("sex", "race"),
        ("sex", "age"),
        ("race", "age"),
    ]
    assert attribute_sets(["sex", "race"], False) == [("sex",), ("race",)]
    assert list(binarize(np.array([0, 2, 1, 2]), 2)) == [0, 1, 0, 1]
