"""data.label_issues: planted flips are found with high precision; clean data stays quiet."""

import numpy as np
import pytest

from aiarmor.core import Budget, CheckContext, Severity
from aiarmor.data import load_digits_demo
from aiarmor.data.dataset import Dataset
from aiarmor.datachecks.label_issues import (
    LabelIssuesCheck,
    find_label_issues,
    out_of_sample_proba,
)
from aiarmor.poisoning import label_flip


def _run(train, test=None, **params):
    ctx = CheckContext(
        target=None,
        data=test if test is not None else train,
        train=train,
        params=LabelIssuesCheck.resolve_params(params),
        budget=Budget.QUICK,
        seed=0,
        check_id=LabelIssuesCheck.id,
    )
    return LabelIssuesCheck().run(ctx)


@pytest.fixture(scope="module")
def digits():
    train, _ = load_digits_demo(seed=0)
    return train


def test_confident_joint_on_a_hand_example():
    y = np.array([0, 0, 0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9],  # the third is labeled 0, looks 1
                      [0.2, 0.8], [0.3, 0.7], [0.1, 0.9]])  # fmt: skip
    found = find_label_issues(y, proba)
    assert found.index.tolist() == [2]
    assert found.suggested.tolist() == [1]
    np.testing.assert_allclose(found.thresholds, [(0.9 + 0.8 + 0.1) / 3, 0.8])


def test_random_flips_are_found_with_good_precision_and_recall(digits):
    flipped = label_flip(digits, rate=0.1, seed=3)
    found = find_label_issues(flipped.data.y, out_of_sample_proba(flipped.data))
    hits = flipped.poisoned[found.index]
    assert hits.mean() > 0.75  # precision
    assert hits.sum() / flipped.poisoned.sum() > 0.65  # recall
    out = _run(flipped.data)
    assert out.metrics["issue_rate"] > 0.06
    (finding,) = out.findings
    assert finding.severity is Severity.MEDIUM  # spread over many pairs: not targeted
    rows = [w["row"] for w in finding.evidence["worst"]]
    assert flipped.poisoned[rows].mean() > 0.75


def test_targeted_flips_are_called_targeted():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    centers = np.array([[0, 0], [6, 0], [0, 6]], dtype=np.float32)
    x = (rng.normal(size=(600, 2)) + centers[y]).astype(np.float32)
    flip = np.flatnonzero(y == 0)[:30]
    y[flip] = 2  # class-0 samples relabeled as class 2
    out = _run(Dataset(x=x, y=y.astype(np.int64), name="blobs"), max_issue_rate=0.02)
    (finding,) = out.findings
    assert finding.severity is Severity.HIGH
    assert "look like class 0 but are labeled 2" in finding.detail
    flagged = {w["row"] for w in finding.evidence["worst"]}
    assert flagged <= set(flip.tolist())


def test_clean_digits_raise_no_finding(digits):
    out = _run(digits)
    assert out.findings == ()
    assert out.metrics["issue_rate"] < 0.05


def test_skewed_priors_with_accidental_noise_are_not_called_targeted():
    # binary, 3:1 classes, overlapping blobs: most errors carry the majority label, as on UCI
    # Adult; that is the priors at work, not a targeted flip (lift below min_lift)
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.25).astype(np.int64)
    x = (rng.normal(size=(2000, 2)) + 1.2 * y[:, None]).astype(np.float32)
    out = _run(Dataset(x=x, y=y, name="skewed"), max_issue_rate=0.0)
    assert out.metrics["top_pair_share"] >= 0.5  # the old rule would have said "targeted"
    assert out.metrics["top_pair_lift"] < 1.5
    assert [f.severity for f in out.findings] == [Severity.MEDIUM]
