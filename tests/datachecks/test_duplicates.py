"""data.duplicates: exact duplicates, conflicting labels and train/test leakage."""

import numpy as np

from aiarmor.core import Budget, CheckContext, Severity
from aiarmor.data import load_digits_demo
from aiarmor.data.dataset import Dataset
from aiarmor.datachecks.duplicates import (
    DuplicatesCheck,
    conflicting_groups,
    exact_groups,
    near_matches,
)


def _run(train, test, **params):
    ctx = CheckContext(
        target=None,
        data=test,
        train=train,
        params=DuplicatesCheck.resolve_params(params),
        budget=Budget.QUICK,
        seed=0,
        check_id=DuplicatesCheck.id,
    )
    return DuplicatesCheck().run(ctx)


def test_groups_and_conflicts_by_hand():
    x = np.array([[1, 2], [3, 4], [1, 2], [5, 6], [3, 4]], dtype=np.float32)
    g = exact_groups(x)
    assert g[0] == g[2] and g[1] == g[4] and len(set(g.tolist())) == 3
    y = np.array([0, 1, 1, 0, 1])
    (conflict,) = conflicting_groups(g, y)
    assert conflict.tolist() == [0, 2]


def test_near_matches_are_relative_to_the_data_scale():
    rng = np.random.default_rng(0)
    train = rng.random((200, 5)) * 1000
    test = np.concatenate([train[:3] + 1e-3, rng.random((5, 5)) * 1000])
    assert near_matches(train, test, tolerance=0.05).tolist() == [True] * 3 + [False] * 5


def test_clean_digits_split_has_no_leakage_or_conflicts():
    train, test = load_digits_demo(seed=0)
    out = _run(train, test)
    assert out.metrics["conflicting_label_groups"] == 0
    assert out.metrics["test_in_train_exact"] == 0
    assert not [f for f in out.findings if f.severity >= Severity.MEDIUM]


def test_planted_leakage_and_conflicts_are_found():
    train, test = load_digits_demo(seed=0)
    leaked = Dataset(x=np.concatenate([test.x, train.x[:10]]),
                     y=np.concatenate([test.y, train.y[:10]]), name="leaky")  # fmt: skip
    dup_x = np.concatenate([train.x, train.x[:30]])
    dup_y = np.concatenate([train.y, (train.y[:30] + 1) % 10])
    poisoned = Dataset(x=dup_x, y=dup_y, name="dup")
    out = _run(poisoned, leaked)
    assert out.metrics["test_in_train_exact"] == 10
    assert out.metrics["conflicting_label_groups"] == 30
    titles = " | ".join(f.title for f in out.findings)
    assert "also appear in training" in titles and "carry different labels" in titles
    leak = next(f for f in out.findings if "appear in training" in f.title)
    assert leak.evidence["held_out_rows"] == list(range(len(test), len(test) + 10))


def test_without_training_data_only_the_data_is_checked():
    x = np.zeros((20, 3), np.float32)
    out = _run(None, Dataset(x=x, y=np.zeros(20, np.int64), name="same"))
    assert out.metrics["duplicate_rate"] == 0.95
    assert "leakage_rate" not in out.metrics
    assert out.findings[0].severity is Severity.LOW
