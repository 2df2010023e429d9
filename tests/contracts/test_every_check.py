"""Contract tests: every registered check on a small trained model.

Each check must be documented, cite known standards, report only the metrics it declares,
be deterministic for a seed, and produce a report that validates against the JSON Schema.
"""

import fnmatch
import inspect
import json

import numpy as np
import pytest
import torch
from torch import nn

from aiarmor import audit
from aiarmor.builtin import load_builtin_checks
from aiarmor.core import CATALOGUE
from aiarmor.core.registry import registered
from aiarmor.data.dataset import Dataset
from aiarmor.reporting import validate_report
from aiarmor.targets import TorchTarget

load_builtin_checks()
CHECK_IDS = sorted(registered())


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    x = rng.random((200, 1, 4, 4), dtype=np.float32)
    y = (x.reshape(200, -1)[:, :8].mean(axis=1) > 0.5).astype(np.int64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    train = Dataset(x=x[:150], y=y[:150], name="train")
    test = Dataset(x=x[150:], y=y[150:], name="test")
    return TorchTarget(model.eval(), n_classes=2, bounds=(0.0, 1.0)), train, test


def test_the_builtin_checks_are_registered():
    assert {"baseline.performance", "robustness.input_validation"} <= set(CHECK_IDS)


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_check_is_documented(check_id):
    cls = registered()[check_id]
    doc = inspect.cleandoc(cls.__doc__ or "")
    assert len(doc.split()) >= 30, "docstring must say what, why, standards, references"
    assert cls.summary and cls.title and cls.metrics
    assert all(ref in CATALOGUE for ref in cls.standards)
    assert check_id.count(".") == 1 and check_id == check_id.lower()


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_check_runs_reports_declared_metrics_and_is_deterministic(setup, check_id):
    target, train, test = setup
    cls = registered()[check_id]
    first = audit(target, test, train=train, checks=[check_id], budget="quick", seed=1)
    result = first.check(check_id)
    assert result.status.value in ("passed", "failed", "skipped"), result.reason
    for name in result.metrics:
        assert any(fnmatch.fnmatchcase(name, p) for p in cls.metrics), name
    for finding in result.findings:
        assert finding.check_id == check_id
        assert all(ref in CATALOGUE for ref in finding.standards)
        assert finding.remediation and finding.detail
    doc = first.to_dict()
    validate_report(json.loads(json.dumps(doc, allow_nan=False)))
    again = audit(target, test, train=train, checks=[check_id], budget="quick", seed=1)
    a, b = dict(result.metrics), dict(again.check(check_id).metrics)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), k
