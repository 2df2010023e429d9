"""The training-set poison checks stay quiet on the demo's clean digits CNN.

Clean 8x8 digits split classes 1 and 9 by writing style almost as sharply as poison splits a
class (Cohen's d 4.6-4.9); only the runner-up entropy gap tells them apart. This is the model
``aiarmor demo`` audits, so a false alarm here is a false alarm in front of every new user.
"""

import pytest
import torch

from aiarmor import audit
from aiarmor.data import load_digits_demo
from aiarmor.demo import build_model, train_classifier
from aiarmor.targets import TorchTarget


@pytest.mark.slow
def test_clean_demo_model_has_no_poison_findings():
    train, test = load_digits_demo(seed=0)
    torch.manual_seed(0)
    model = train_classifier(build_model(), train, seed=0)
    target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0))
    checks = ["poisoning.spectral", "poisoning.activation_clustering"]
    report = audit(target, test, train=train, checks=checks, budget="standard", seed=0)
    for check in checks:
        result = report.check(check)
        assert result.reason is None, result.reason
        assert result.metrics["poisoned_classes"] == 0.0, check
    assert report.findings == ()
