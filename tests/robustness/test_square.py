"""Square: inside the ball and bounds, lowers accuracy on torch and scikit-learn, query budget."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks import Square, run_attack
from aiarmor.robustness.attacks.square import bump, p_schedule, window_side
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import CallableLabelTarget, CallableTarget, SklearnTarget, TorchTarget


def _table(n=160, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d), dtype=np.float32)
    y = (x[:, : d // 2].sum(axis=1) > x[:, d // 2 :].sum(axis=1)).astype(np.int64)
    return x, y


@pytest.fixture(scope="module")
def mlp():
    x, y = _table()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return TorchTarget(model.eval(), n_classes=2, bounds=(0.0, 1.0)), xt, yt


class _Linear(torch.nn.Module):
    """A fixed linear scorer on the flattened input (any layout), 3 classes."""

    def __init__(self, d):
        super().__init__()
        self.w = torch.randn(d, 3, generator=torch.Generator().manual_seed(d))

    def forward(self, x):
        return (x.flatten(1) - 0.5) @ self.w


@settings(max_examples=25, deadline=None)
@given(
    shape=st.sampled_from([(5,), (1, 6, 6), (3, 4, 4), (4, 5), (2, 1, 9)]),
    norm=st.sampled_from(list(Norm)),
    eps=st.floats(0.0, 1.5),
    seed=st.integers(0, 2**16),
)
def test_candidates_stay_in_ball_and_bounds_with_shape_and_dtype(shape, norm, eps, seed):
    d = int(np.prod(shape))
    target = TorchTarget(_Linear(d).eval(), n_classes=3, bounds=(0.0, 1.0))
    x = torch.rand(6, *shape, generator=torch.Generator().manual_seed(seed))
    y = torch.zeros(6, dtype=torch.long)
    threat = ThreatModel(norm, eps)
    adv = Square(n_queries=15).perturb(target, x, y, threat, torch.Generator().manual_seed(seed))
    assert adv.shape == x.shape and adv.dtype == x.dtype and not adv.is_inference()
    assert bool(threat.contains(x, adv).all())  # the raw output, before any projection


@pytest.mark.parametrize(("norm", "eps"), [(Norm.LINF, 0.15), (Norm.L2, 0.4)])
def test_lowers_accuracy_of_a_trained_torch_model(mlp, norm, eps):
    target, x, y = mlp
    res = run_attack(Square(n_queries=200), target, x, y, ThreatModel(norm, eps), seed=0)
    assert res.clean_accuracy > 0.9
    assert res.robust_accuracy < res.clean_accuracy - 0.3
    assert bool((res.norms <= eps * (1 + 1e-5) + 1e-6).all())


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_lowers_accuracy_of_scikit_learn_models(kind):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    x, y = _table(seed=1)
    if kind == "logistic":
        est = LogisticRegression(C=10.0).fit(x, y)
    else:
        est = MLPClassifier((16,), max_iter=2000, random_state=0).fit(x, y)
    target = SklearnTarget(est, bounds=(0.0, 1.0))
    res = run_attack(Square(n_queries=100), target, x[:80], y[:80], ThreatModel("linf", 0.15))
    assert res.clean_accuracy > 0.85
    assert res.robust_accuracy < res.clean_accuracy - 0.3
    assert res.queries == target.queries  # the target counted every row the attack sent


def test_callable_target_with_logits_is_attacked():
    w = torch.tensor([[1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, 1.0]])

    def logits(batch):
        return (np.asarray(batch) - 0.5) @ w.numpy()

    target = CallableTarget(logits, n_classes=2, output="logits", bounds=(0.0, 1.0))
    x = torch.rand(40, 4, generator=torch.Generator().manual_seed(3))
    y = torch.from_numpy(np.asarray(target.predict(x.numpy())))
    res = run_attack(Square(n_queries=100), target, x, y, ThreatModel("l2", 0.5))
    assert res.clean_accuracy == 1.0 and res.robust_accuracy < 0.7


def test_query_budget_is_respected_and_reported():
    sizes = []

    def scores(batch):
        sizes.append(len(batch))
        return np.stack([np.full(len(batch), 0.9), np.full(len(batch), 0.1)], axis=1)

    target = CallableTarget(scores, n_classes=2, bounds=(0.0, 1.0))  # class 0, unfoolable
    x = torch.rand(7, 3, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(7, dtype=torch.long)
    res = run_attack(Square(n_queries=30), target, x, y, ThreatModel("linf", 0.3))
    assert res.robust_accuracy == 1.0
    assert sizes == [7] + [7] * 30 + [7]  # clean labels, start + 29 steps, verification
    assert res.queries == target.queries == 7 * 32


def test_fooled_samples_leave_the_working_batch():
    sizes = []

    def scores(batch):
        sizes.append(len(batch))
        b = np.asarray(batch, dtype=np.float64)
        return np.stack([b[:, 0], 1 - b[:, 0]], axis=1)  # class 0 iff feature 0 > 0.5

    target = CallableTarget(scores, n_classes=2, bounds=(0.0, 1.0))
    x = torch.tensor([[0.51, 0.5], [0.52, 0.5], [0.99, 0.5], [0.97, 0.5]])
    y = torch.zeros(4, dtype=torch.long)
    res = run_attack(Square(n_queries=100), target, x, y, ThreatModel("linf", 0.1))
    assert res.success.tolist() == [True, True, False, False]
    during = sizes[1:-1]  # without the framework's clean and verification passes
    assert during == sorted(during, reverse=True)  # never re-admitted
    assert during[-1] == 2 and sum(during) < 4 * 100  # the fooled two stopped early


def test_deterministic_for_a_seed(mlp):
    target, x, y = mlp
    threat = ThreatModel("l2", 0.3)
    runs = [run_attack(Square(n_queries=40), target, x, y, threat, seed=s) for s in (5, 5, 6)]
    assert torch.equal(runs[0].x_adv, runs[1].x_adv)
    assert not torch.equal(runs[0].x_adv, runs[2].x_adv)


def test_needs_scores_and_validates_hyperparameters():
    labels_only = CallableLabelTarget(lambda b: np.zeros(len(b), dtype=np.int64), n_classes=2)
    with pytest.raises(ConfigError, match="needs a target with scores"):
        run_attack(Square(), labels_only, np.zeros((2, 3)), np.zeros(2), ThreatModel("linf", 0.1))
    for bad in ({"n_queries": 0}, {"p_init": 0.0}, {"p_init": 1.5}, {"n_queries": 2.5}):
        with pytest.raises(ConfigError):
            Square(**bad)
    assert repr(Square(n_queries=300, p_init=0.3)) == "Square(n_queries=300, p_init=0.3)"


def test_schedule_windows_and_bumps():
    assert p_schedule(0.8, 0, 1000) == 0.8
    assert p_schedule(0.8, 3, 1000) == 0.4  # step 30 of 10,000
    assert p_schedule(0.8, 999, 1000) == pytest.approx(0.8 / 512)
    assert window_side(28, 28, 0.1, 1) == (9, 9)
    assert window_side(8, 8, 1.0, 1) == (7, 7)  # never the whole image
    assert window_side(1, 100, 0.05, 1) == (1, 5)  # a row of features: contiguous features
    assert window_side(1, 4, 0.01, 3) == (1, 3)
    g = torch.Generator().manual_seed(0)
    for hs, ws in [(5, 5), (1, 7), (3, 4), (1, 1)]:
        b = bump(hs, ws, g)
        assert b.shape == (hs, ws) and float(torch.linalg.vector_norm(b)) == pytest.approx(1.0)
    half = bump(1, 6, g)
    assert bool((half[0, :3] > 0).all() and (half[0, 3:] < 0).all())


def test_finds_the_optimal_corner_of_a_linear_model():
    from sklearn.linear_model import LogisticRegression

    x, y = _table(n=200, seed=2)
    est = LogisticRegression(C=10.0).fit(x, y)
    eps = 0.1
    w = est.coef_[0]
    # the exact Linf attack on a linear binary model: each feature to the end of its interval
    # ([x - eps, x + eps] within the bounds) that pushes the score towards the other class
    push = np.where(y[:, None] == 1, -np.sign(w), np.sign(w))
    corner = np.clip(x + eps * push, 0.0, 1.0)
    exact = (est.predict(x) == y) & (est.predict(corner) == y)
    res = run_attack(Square(n_queries=100), SklearnTarget(est), x, y, ThreatModel("linf", eps))
    assert abs(res.robust_accuracy - exact.mean()) <= 1 / len(x)
    assert res.robust_accuracy >= exact.mean()  # no attack beats the exact one
