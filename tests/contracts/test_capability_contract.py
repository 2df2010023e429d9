"""Contract: the orchestrator enforces ``Check.requires`` by itself.

A check whose requirement the target or the data lacks is never built, its ``applicable`` and
``run`` are never called, and it is reported skipped with the reason naming the missing
capability. Every built-in check declares its requirements as ``Capability`` members.
"""

import numpy as np
import pytest
import torch
from torch import nn

from aiarmor import audit
from aiarmor.audit import available_capabilities, run_check
from aiarmor.builtin import load_builtin_checks
from aiarmor.core import Budget, Capability, Check, CheckContext, CheckOutcome, RegistryError
from aiarmor.core.capability import data_capabilities
from aiarmor.core.registry import register, registered, unregister
from aiarmor.data.dataset import Dataset
from aiarmor.targets import TorchTarget
from aiarmor.targets.base import target_capabilities


class LabelsOnly:
    """A black-box target: labels, nothing else."""

    name, n_classes, bounds = "labels", 2, (0.0, 1.0)

    def __init__(self):
        self.queries = 0

    def predict(self, x):
        self.queries += len(x)
        return (np.asarray(x).reshape(len(x), -1).mean(axis=1) > 0.5).astype(np.int64)


def _images(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 2, 2), dtype=np.float32)
    return Dataset(x=x, y=(x.reshape(n, -1).mean(axis=1) > 0.5).astype(np.int64), name="img")


CALLS: list[str] = []


def _spy(check_id, requires):
    """A check that records being built, asked and run."""

    def init(self):
        CALLS.append(f"{check_id}:init")

    def applicable(self, ctx):
        CALLS.append(f"{check_id}:applicable")

    def run(self, ctx):
        CALLS.append(f"{check_id}:run")
        return CheckOutcome({"score": 1.0})

    attrs = {"__doc__": "A spy check.", "id": check_id, "title": check_id, "summary": "spy",
             "standards": ("NIST-AI-RMF:MEASURE-2.5",), "metrics": ("score",),
             "requires": requires, "__init__": init, "applicable": applicable,
             "run": run}  # fmt: skip
    return register(type(check_id.replace(".", "_"), (Check,), attrs))


@pytest.fixture
def spies():
    made = []

    def make(check_id, requires):
        made.append(_spy(check_id, requires))
        return made[-1]

    CALLS.clear()
    yield make
    for cls in made:
        unregister(cls.id)


MISSING_HERE = [c for c in Capability if c is not Capability.LABELS]
"""What a label-only target with image data and no training set lacks: all but labels."""


@pytest.mark.parametrize("capability", MISSING_HERE, ids=lambda c: c.value)
def test_a_check_whose_requirement_is_missing_is_never_run(spies, capability):
    cls = spies(f"t.needs_{capability.value}", (Capability.LABELS, capability))
    report = audit(LabelsOnly(), _images(), checks=[cls.id], budget="quick")
    result = report.check(cls.id)
    assert result.status.value == "skipped"
    assert result.reason == capability.missing
    assert CALLS == []  # not built, applicable() and run() not called


def test_a_target_without_label_queries_skips_a_check_needing_labels(spies):
    cls = spies("t.needs_labels", (Capability.LABELS,))
    ctx = CheckContext(object(), _images(), None, {}, Budget.QUICK, 0, cls.id)  # type: ignore[arg-type]
    result = run_check(cls, ctx)
    assert result.status.value == "skipped"
    assert result.reason == "the target does not answer label queries"
    assert CALLS == []


def test_the_first_missing_requirement_in_declared_order_is_the_reason(spies):
    cls = spies("t.order", (Capability.SENSITIVE, Capability.TABULAR, Capability.GRADIENTS))
    result = audit(LabelsOnly(), _images(), checks=[cls.id]).check(cls.id)
    assert result.reason == Capability.SENSITIVE.missing
    assert "sensitive" in result.reason


def test_a_check_whose_requirements_are_met_runs(spies):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    target = TorchTarget(model, n_classes=2, bounds=(0.0, 1.0))
    data = _images()
    needs = (Capability.LABELS, Capability.SCORES, Capability.GRADIENTS,
             Capability.REPRESENTATIONS, Capability.TRAIN)  # fmt: skip
    cls = spies("t.met", needs)
    result = audit(target, data, train=_images(seed=1), checks=[cls.id]).check(cls.id)
    assert result.status.value == "passed"
    assert CALLS == ["t.met:init", "t.met:applicable", "t.met:run"]


def test_requires_must_be_capability_members():
    attrs = {"__doc__": "Bad.", "id": "t.strings", "title": "t", "summary": "s",
             "standards": ("NIST-AI-RMF:MEASURE-2.5",), "requires": ("gradients",)}  # fmt: skip
    with pytest.raises(RegistryError, match="Capability"):
        register(type("Strings", (Check,), attrs))


def test_every_builtin_check_declares_capabilities_and_describes_them():
    load_builtin_checks()
    for check_id, cls in registered().items():
        assert all(isinstance(c, Capability) for c in cls.requires), check_id
        assert cls.describe()["requires"] == [c.value for c in cls.requires]


def test_capabilities_say_whether_they_are_of_the_target_or_the_data():
    about = {c: c.about for c in Capability}
    assert {c for c, a in about.items() if a == "data"} == {
        Capability.TRAIN, Capability.SENSITIVE, Capability.TABULAR
    }  # fmt: skip
    assert all(c.missing for c in Capability)


def test_what_targets_and_data_offer():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).eval()
    assert target_capabilities(LabelsOnly()) == {Capability.LABELS}
    assert target_capabilities(TorchTarget(model, n_classes=2)) == {
        Capability.LABELS, Capability.SCORES, Capability.GRADIENTS, Capability.REPRESENTATIONS
    }  # fmt: skip
    assert target_capabilities(object()) == frozenset()
    images, rng = _images(), np.random.default_rng(0)
    table = Dataset(x=rng.random((6, 3), dtype=np.float32), y=np.array([0, 1] * 3),
                    sensitive={"sex": np.array(["F", "M"] * 3)})  # fmt: skip
    assert data_capabilities(images, None) == frozenset()
    assert data_capabilities(table, images) == {
        Capability.TRAIN, Capability.SENSITIVE, Capability.TABULAR
    }  # fmt: skip
    ctx = CheckContext(LabelsOnly(), table, None, {}, Budget.QUICK, 0, "t.x")
    assert available_capabilities(ctx) == {
        Capability.LABELS, Capability.SENSITIVE, Capability.TABULAR
    }  # fmt: skip
