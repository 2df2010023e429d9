"""poisoning.neural_cleanse: the backdoored class needs the smallest trigger; clean passes."""

import numpy as np
import pytest
import torch

from aiarmor import audit
from aiarmor.core import Budget, CheckContext, CheckStatus, parse_policy
from aiarmor.data import load_digits_demo
from aiarmor.poisoning import badnets
from aiarmor.poisoning.neural_cleanse import NeuralCleanseCheck, anomaly_index, reverse_engineer
from aiarmor.targets import TorchTarget


class Backdoored(torch.nn.Module):
    """A linear digits classifier plus a hard-wired shortcut: a bright corner forces class 0."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.linear = linear

    def forward(self, x):
        corner = x[:, 0, -2:, -2:].mean(dim=(1, 2))
        boost = 40 * corner  # smooth, so the optimizer can find it
        logits = self.linear(x.flatten(1))
        return logits + boost[:, None] * torch.nn.functional.one_hot(
            torch.zeros(len(x), dtype=torch.long), 10
        )


@pytest.fixture(scope="module")
def digits():
    return load_digits_demo(seed=0)


def _linear(train):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=300).fit(train.x.reshape(len(train), -1), train.y)
    lin = torch.nn.Linear(64, 10)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(clf.coef_).float())
        lin.bias.copy_(torch.from_numpy(clf.intercept_).float())
    return lin


def test_anomaly_index_by_hand():
    norms = np.array([10.0, 10.0, 11.0, 9.0, 2.0])
    idx = anomaly_index(norms)
    assert idx.argmax() == 4
    assert idx[4] == pytest.approx((10 - 2) / 1.4826)


def test_reverse_engineering_finds_the_planted_shortcut(digits):
    train, test = digits
    target = TorchTarget(Backdoored(_linear(train)).eval(), n_classes=10, bounds=(0.0, 1.0))
    found = reverse_engineer(target, test.x[:48], steps=80, lam=0.1, seed=0)
    assert found.norms.argmin() == 0
    assert found.success[0] > 0.9
    corner = found.masks[0][0, -2:, -2:].mean()
    assert corner > found.masks[0].mean() * 2  # the mask concentrates on the corner


def test_check_skips_without_gradients(digits):
    from sklearn.linear_model import LogisticRegression

    from aiarmor.targets import SklearnTarget

    train, test = digits
    clf = LogisticRegression(max_iter=200).fit(train.x.reshape(len(train), -1), train.y)

    class Flat(SklearnTarget):
        def predict_proba(self, x):
            return super().predict_proba(np.asarray(x).reshape(len(x), -1))

    report = audit(Flat(clf), test, checks=["poisoning.neural_cleanse"])
    result = report.check("poisoning.neural_cleanse")
    assert result.status is CheckStatus.SKIPPED and "no gradients" in result.reason


def test_check_skips_outside_its_class_range_with_the_numbers(digits):
    _, test = digits
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0))
    policy = parse_policy('[checks."poisoning.neural_cleanse"]\nmax_classes = 5\n')
    report = audit(target, test, checks=["poisoning.neural_cleanse"], policy=policy)
    result = report.check("poisoning.neural_cleanse")
    assert result.status is CheckStatus.SKIPPED
    assert "max_classes=5" in result.reason and "predicts 10" in result.reason


@pytest.mark.slow
@pytest.mark.parametrize(("rate", "flagged"), [(0.05, True), (0.1, True), (None, False)])
def test_badnets_cnn_is_flagged_and_clean_cnn_passes(digits, rate, flagged):
    from aiarmor.demo import build_model, train_classifier

    train, test = digits
    data = train if rate is None else badnets(train, rate=rate, target_class=1, seed=1).data
    target = TorchTarget(train_classifier(build_model(), data, seed=1), n_classes=10,
                         bounds=(0.0, 1.0))  # fmt: skip
    ctx = CheckContext(target=target, data=test, train=None,
                       params=NeuralCleanseCheck.resolve_params({}), budget=Budget.STANDARD,
                       seed=0, check_id=NeuralCleanseCheck.id)  # fmt: skip
    out = NeuralCleanseCheck().run(ctx)
    assert bool(out.findings) is flagged
    if flagged:
        assert out.findings[0].evidence["class"] == 1
