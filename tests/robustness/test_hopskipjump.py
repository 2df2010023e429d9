"""HopSkipJump: labels only, adversarial or untouched outputs, near-minimal norms, query budget."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks import HopSkipJump, run_attack
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import CallableLabelTarget, TorchTarget, sklearn_target

W = np.array([1.0, -2.0, 0.5, 1.5, -1.0])
B = -0.2


def _linear_labels(batch):
    """Class 1 iff w.x + b > 0 (a label-only callable with a known boundary)."""
    return ((np.asarray(batch, dtype=np.float64).reshape(len(batch), -1) - 0.5) @ W + B > 0).astype(
        np.int64
    )


def _points(n, seed=0, d=5):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


def _labels_target():
    return CallableLabelTarget(_linear_labels, n_classes=2, bounds=(0.0, 1.0))


def _run(attack, target, x, norm, eps=0.0, seed=0):
    y = torch.from_numpy(_linear_labels(x.numpy()))
    adv = attack.perturb(target, x, y, ThreatModel(norm, eps), torch.Generator().manual_seed(seed))
    return adv, y


@settings(max_examples=20, deadline=None)
@given(norm=st.sampled_from(list(Norm)), seed=st.integers(0, 2**16), d=st.sampled_from([5, 10]))
def test_outputs_are_adversarial_or_untouched_in_bounds(norm, seed, d):
    x = _points(6, seed, d)
    target = CallableLabelTarget(
        lambda b: (np.asarray(b)[:, 0] + np.asarray(b)[:, 1] > 1.0).astype(np.int64),
        n_classes=2,
        bounds=(0.0, 1.0),
    )
    y = torch.from_numpy(target.predict(x.numpy()))
    attack = HopSkipJump(max_queries=60, init_evals=10)
    adv = attack.perturb(target, x, y, ThreatModel(norm, 0.0), torch.Generator().manual_seed(seed))
    assert adv.shape == x.shape and adv.dtype == x.dtype and not adv.is_inference()
    assert bool(((adv >= 0) & (adv <= 1)).all())
    moved = (adv != x).flatten(1).any(dim=1)
    flipped = torch.from_numpy(target.predict(adv.numpy())) != y
    assert bool((flipped == moved).all())  # every point it moved is adversarial


@pytest.mark.parametrize(("norm", "dual"), [(Norm.L2, 2), (Norm.LINF, 1)])
def test_norms_approach_the_closed_form_distance_on_a_linear_model(norm, dual):
    x = 0.35 + 0.3 * _points(12, seed=1)  # well inside the bounds: the boundary is unclipped
    target = _labels_target()
    adv, y = _run(HopSkipJump(max_queries=1500), target, x, norm)
    exact = np.abs((x.numpy() - 0.5) @ W + B) / np.linalg.norm(W, ord=dual)
    found = ThreatModel(norm, 1.0).norms(adv - x).numpy()
    assert bool((torch.from_numpy(target.predict(adv.numpy())) != y).all())
    assert np.all(found >= exact * (1 - 1e-4))  # nothing beats the closed form
    assert np.median(found / exact) < 1.15


def test_lowers_accuracy_of_a_label_only_scikit_learn_model():
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(0)
    x = rng.random((120, 6), dtype=np.float32)
    y = (x[:, :3].sum(axis=1) > x[:, 3:].sum(axis=1)).astype(np.int64)
    target = sklearn_target(LinearSVC().fit(x, y), bounds=(0.0, 1.0))
    assert not hasattr(target, "predict_proba")
    res = run_attack(HopSkipJump(max_queries=400), target, x[:60], y[:60], ThreatModel("l2", 0.3))
    assert res.clean_accuracy > 0.85
    assert res.robust_accuracy < res.clean_accuracy - 0.3
    assert res.queries == target.queries


def test_lowers_accuracy_of_a_trained_torch_model():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(150, 6, generator=gen)
    y = (x[:, :3].sum(1) > x[:, 3:].sum(1)).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    target = TorchTarget(model.eval(), n_classes=2, bounds=(0.0, 1.0))
    res = run_attack(
        HopSkipJump(max_queries=300), target, x[:50], y[:50], ThreatModel("linf", 0.15)
    )
    assert res.clean_accuracy > 0.9 and res.robust_accuracy < res.clean_accuracy - 0.3


def test_query_budget_is_respected_per_sample():
    target = _labels_target()
    x = 0.35 + 0.3 * _points(5, seed=2)
    _run(HopSkipJump(max_queries=250), target, x, Norm.L2)
    assert 0 < target.queries <= 5 * 250
    single = _labels_target()
    _run(HopSkipJump(max_queries=250), single, x[:1], Norm.L2)
    assert single.queries == 250  # a minimum-norm search with epsilon 0 spends all of it


def test_a_sample_inside_the_ball_stops_being_queried():
    x = 0.35 + 0.3 * _points(1, seed=3)
    exact = float(np.abs((x.numpy() - 0.5) @ W + B)[0] / np.linalg.norm(W))
    target = _labels_target()
    adv, _ = _run(HopSkipJump(max_queries=2000), target, x, Norm.L2, eps=3 * exact)
    assert target.queries < 300  # stopped once within 3x the minimal distance
    assert float(torch.linalg.vector_norm(adv - x)) <= 3 * exact


def test_deterministic_for_a_seed():
    x = _points(8, seed=4)
    runs = [_run(HopSkipJump(max_queries=150), _labels_target(), x, Norm.L2, seed=s)[0]
            for s in (1, 1, 2)]  # fmt: skip
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_starts_from_another_sample_when_noise_never_fools():
    # class 1 only in a tiny corner: uniform noise essentially never lands there
    def corner(batch):
        return (np.asarray(batch).min(axis=1) > 0.9).astype(np.int64)

    target = CallableLabelTarget(corner, n_classes=2, bounds=(0.0, 1.0))
    x = torch.tensor([[0.95, 0.95, 0.95, 0.95], [0.5, 0.5, 0.5, 0.5]])
    y = torch.tensor([1, 0])
    attack = HopSkipJump(max_queries=200, init_trials=5)
    adv = attack.perturb(target, x, y, ThreatModel("l2", 0.0), torch.Generator().manual_seed(0))
    assert torch.from_numpy(corner(adv.numpy())).tolist() == [0, 1]


def test_validates_hyperparameters():
    for bad in ({"max_queries": 0}, {"gamma": 0.0}, {"init_trials": -1}, {"max_iter": 1.5}):
        with pytest.raises(ConfigError):
            HopSkipJump(**bad)
    assert repr(HopSkipJump(max_queries=10)).startswith("HopSkipJump(max_queries=10, max_iter=")
    assert HopSkipJump().supports(_labels_target())
