"""The robustness.input_validation check."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiarmor.core.errors import ConfigError
from aiarmor.core.findings import CheckOutcome, Finding, Severity
from aiarmor.core.registry import Budget, CheckContext, registered
from aiarmor.data.dataset import Dataset
from aiarmor.robustness import InputValidationCheck
from aiarmor.robustness.input_validation import ProbeKind, build_probes


class NaiveTorchTarget:
    """No validation at all: casts to float32 (as adapters do) and runs the module."""

    def __init__(self, module: torch.nn.Module, n_classes: int, bounds: Any = (0.0, 1.0)) -> None:
        self.name, self.n_classes, self.bounds, self.queries = "naive", n_classes, bounds, 0
        self.module = module.eval()

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.queries += len(x)
        with torch.no_grad():
            logits = self.module(torch.as_tensor(np.asarray(x, dtype=np.float32)))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


class BatchNormalisingTarget(NaiveTorchTarget):
    """Scales each batch by its maximum first: crashes on an empty batch."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x, dtype=np.float32)
        return super().predict_proba(a / max(float(a.max()), 1.0))


class ThresholdRuleTarget:
    """A tree-like rule on feature 0; comparisons with NaN are False, so NaN gets answered."""

    def __init__(self) -> None:
        self.name, self.n_classes, self.bounds, self.queries = "rule", 2, (0.0, 1.0), 0

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        high = a[:, 0] > 0.5
        return np.where(high[:, None], [0.05, 0.95], [0.95, 0.05])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


class DefendedTarget:
    """Validates type, shape, finiteness and range; bounded logits keep confidence < 0.9."""

    def __init__(self, sample_shape: tuple[int, ...]) -> None:
        self.name, self.n_classes, self.bounds, self.queries = "defended", 2, (0.0, 1.0), 0
        self.sample_shape = sample_shape
        d = int(np.prod(sample_shape))
        self.w = np.linspace(-1.0, 1.0, d) * 2.0 / d  # |logit| <= 2 on [0, 1] inputs

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x)
        if a.dtype.kind not in "iuf":
            raise TypeError("numeric input required")
        if a.shape[1:] != self.sample_shape:
            raise ValueError("wrong sample shape")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise ValueError("non-finite input")
        if ((a < 0.0) | (a > 1.0)).any():
            raise ValueError("input out of bounds")
        p1 = 1.0 / (1.0 + np.exp(-(a.reshape(len(a), self.w.size) @ self.w)))
        return np.stack([1.0 - p1, p1], axis=1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


class LabelOnlyTarget:
    """Label-only and unvalidated: arg-max of a fixed linear map, NaN rows included."""

    def __init__(self, d: int) -> None:
        self.name, self.n_classes, self.bounds, self.queries = "labels", 3, (0.0, 1.0), 0
        self.w = np.random.default_rng(0).normal(size=(d, 3))

    def predict(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        return np.nan_to_num(a @ self.w).argmax(axis=1)


class Boom(Exception):
    """A model-specific failure type."""


class AlwaysRaisingTarget:
    def __init__(self) -> None:
        self.name, self.n_classes, self.bounds, self.queries = "boom", 2, None, 0

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        raise Boom("model server unavailable")

    def predict(self, x: np.ndarray) -> np.ndarray:
        raise Boom("model server unavailable")


class GarbageOutputTarget:
    """Returns things that are not probability arrays."""

    def __init__(self) -> None:
        self.name, self.n_classes, self.bounds, self.queries = "garbage", 2, None, 0
        self.calls = 0

    def predict_proba(self, x: np.ndarray) -> Any:
        self.calls += 1
        return [None, "abc", np.ones((len(x), 5)), {"a": 1}][self.calls % 4]

    def predict(self, x: np.ndarray) -> Any:
        return "abc"


def _tabular(n: int = 30, d: int = 4) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(x=rng.random((n, d)).astype(np.float32), y=rng.integers(0, 3, n))


def _images(n: int = 20) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(x=rng.random((n, 1, 4, 4)).astype(np.float32), y=rng.integers(0, 3, n))


def _linear(d: int, k: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d, k))


def _run(target: Any, data: Dataset, seed: int = 0, **params: Any) -> CheckOutcome:
    ctx = CheckContext(
        target=target,
        data=data,
        train=None,
        params=InputValidationCheck.resolve_params(params),
        budget=Budget.STANDARD,
        seed=seed,
        check_id=InputValidationCheck.id,
    )
    check = InputValidationCheck()
    assert check.applicable(ctx) is None
    return check.run(ctx)


def _by_title(outcome: CheckOutcome, text: str) -> Finding:
    (finding,) = [f for f in outcome.findings if text in f.title]
    return finding


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a
    )


def test_naive_model_is_flagged_for_nan_output_and_confident_garbage() -> None:
    outcome = _run(NaiveTorchTarget(_linear(4), 3), _tabular())
    m = outcome.metrics
    assert m["probes"] == 14
    assert m["nan_output"] >= 4  # nan_one, nan_all, pos_inf, neg_inf
    assert m["confident_on_garbage"] >= 1
    nan_finding = _by_title(outcome, "NaN or infinite")
    assert nan_finding.severity is Severity.MEDIUM
    assert nan_finding.standards == ("NIST-AI-RMF:MEASURE-2.6",)
    assert set(nan_finding.evidence["probes"]) >= {"nan_one", "nan_all", "pos_inf", "neg_inf"}
    ood = _by_title(outcome, "out-of-domain")
    assert ood.severity is Severity.MEDIUM
    assert "huge" in ood.evidence["probes"]
    assert ood.standards == ("OWASP-ML:ML01", "ATLAS:AML.T0015")
    assert "aiarmor serve" in ood.remediation


def test_rule_model_answering_nan_confidently_is_high() -> None:
    outcome = _run(ThresholdRuleTarget(), _tabular())
    high = _by_title(outcome, "No input validation")
    assert high.severity is Severity.HIGH
    assert high.standards == ("ATLAS:AML.T0043", "OWASP-ML:ML01")
    assert set(high.evidence["probes"]) == {"nan_one", "nan_all", "pos_inf", "neg_inf"}
    assert all(p["outcome"] == "confident" for p in high.evidence["probes"].values())
    # It also silently accepts one feature too many.
    assert "wrong_shape" in _by_title(outcome, "silently accepted").evidence["probes"]


@pytest.mark.parametrize("data", [_tabular(), _images()], ids=["tabular", "images"])
def test_defended_target_yields_no_findings(data: Dataset) -> None:
    outcome = _run(DefendedTarget(data.sample_shape), data)
    assert outcome.findings == ()
    m = outcome.metrics
    assert m["crashed_on_valid_variant"] == 0
    assert m["confident_on_garbage"] == 0
    assert m["nan_output"] == 0
    # Non-finite (4), huge (2), out of bounds, wrong shape and strings are rejected.
    assert m["rejected"] == 9
    assert m["max_confidence.random_noise"] < 0.9
    assert math.isnan(m["max_confidence.nan_one"])


def test_crash_on_empty_batch_is_a_low_finding() -> None:
    outcome = _run(BatchNormalisingTarget(_linear(4), 3), _tabular())
    assert outcome.metrics["crashed_on_valid_variant"] == 1
    finding = _by_title(outcome, "crashes on valid input variants")
    assert finding.severity is Severity.LOW
    assert finding.standards == ("ATLAS:AML.T0029",)
    assert finding.evidence["probes"] == {
        "empty_batch": {
            "description": "a batch of 0 samples",
            "outcome": "rejected",
            "max_confidence": pytest.approx(float("nan"), nan_ok=True),
            "error": "ValueError",
        }
    }


def test_exceptions_never_escape_and_are_recorded_by_type_name() -> None:
    outcome = _run(AlwaysRaisingTarget(), _tabular())
    assert outcome.metrics["rejected"] == 14
    assert outcome.metrics["crashed_on_valid_variant"] == 3
    finding = _by_title(outcome, "crashes")
    assert {p["error"] for p in finding.evidence["probes"].values()} == {"Boom"}
    assert "unavailable" not in json.dumps(finding.to_dict())  # never the message


def test_unreadable_outputs_are_bad_output_not_crashes() -> None:
    outcome = _run(GarbageOutputTarget(), _tabular())
    m = outcome.metrics
    assert m["bad_output"] + m["rejected"] == m["probes"]
    assert m["bad_output"] > 0
    assert _by_title(outcome, "malformed outputs").severity is Severity.LOW


@pytest.mark.parametrize(
    ("module", "accepted"),
    [
        (_linear(16), True),  # flattens anything with 16 values: channels-last goes through
        (torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten()), False),
    ],
    ids=["mlp", "conv"],
)
def test_image_shape_confusion(module: torch.nn.Module, accepted: bool) -> None:
    outcome = _run(NaiveTorchTarget(module, 8 if not accepted else 3), _images())
    hits = [f for f in outcome.findings if "Wrong-shaped" in f.title]
    assert bool(hits) is accepted
    if accepted:
        (finding,) = hits
        assert finding.evidence["probes"]["wrong_shape"]["description"] == (
            "samples of shape (4, 4, 1) instead of (1, 4, 4)"
        )


def test_label_only_target_accepting_nan_is_medium() -> None:
    outcome = _run(LabelOnlyTarget(4), _tabular())
    finding = _by_title(outcome, "Non-finite inputs silently accepted")
    assert finding.severity is Severity.MEDIUM
    assert all(math.isnan(v) for k, v in outcome.metrics.items() if k.startswith("max_conf"))


def test_deterministic_for_a_seed() -> None:
    data = _tabular()
    a = _run(NaiveTorchTarget(_linear(4), 3), data, seed=3)
    b = _run(NaiveTorchTarget(_linear(4), 3), data, seed=3)
    assert _same(dict(a.metrics), dict(b.metrics))
    assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]


def test_probes_depend_on_the_seed() -> None:
    x = _tabular().x[:8]
    p1, p2, p3 = (build_probes(x, (0.0, 1.0), np.random.default_rng(s)) for s in (1, 1, 2))
    noise = [next(p.x for p in ps if p.name == "random_noise") for ps in (p1, p2, p3)]
    assert np.array_equal(noise[0], noise[1])
    assert not np.array_equal(noise[0], noise[2])


def test_out_of_bounds_falls_back_to_the_data_range() -> None:
    data = Dataset(
        x=(np.random.default_rng(0).random((10, 3)) * 10 - 5).astype(np.float32),
        y=np.zeros(10, dtype=np.int64),
    )
    outcome = _run(NaiveTorchTarget(_linear(3), 3, bounds=None), data)
    ood = _by_title(outcome, "out-of-domain")
    assert ood.evidence["domain_from"] == "data range"
    lo, hi = ood.evidence["domain"]
    assert lo == pytest.approx(data.x.min())
    assert hi == pytest.approx(data.x.max())


def test_findings_are_json_and_hold_no_input_values() -> None:
    outcome = _run(NaiveTorchTarget(_linear(4), 3), _tabular())
    for finding in outcome.findings:
        text = json.dumps(finding.to_dict())
        for probe in finding.evidence["probes"].values():
            assert set(probe) == {"description", "outcome", "max_confidence", "error"}
        assert "[[" not in text  # no arrays
    chart = outcome.charts[0].to_dict()
    assert chart["kind"] == "bar"
    assert len(chart["series"][0]["x"]) == 14


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_probe_shapes_for_any_sample_shape(shape: tuple[int, ...], n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape)).astype(np.float32)
    probes = {p.name: p for p in build_probes(x, (0.0, 1.0), rng)}
    for name, probe in probes.items():
        if name == "empty_batch":
            assert probe.x.shape == (0, *shape)
        elif name == "wrong_shape":
            assert probe.x.shape[0] == n
            assert probe.x.shape[1:] != shape
        else:
            assert probe.x.shape == x.shape, name
    assert (np.abs(probes["out_of_bounds"].x - 0.5) > 99).all()
    assert ((probes["random_noise"].x >= 0) & (probes["random_noise"].x <= 1)).all()
    assert np.isnan(probes["nan_all"].x).all()
    per_row = np.isnan(probes["nan_one"].x.reshape(n, -1)).sum(axis=1)
    assert (per_row == 1).all()
    assert probes["wrong_dtype_int"].x.dtype == np.int64
    assert probes["strings"].x.dtype == object
    kinds = {p.kind for p in probes.values()}
    assert kinds == set(ProbeKind)


@pytest.mark.parametrize("value", [1.5, 0.0, "high"])
def test_confidence_threshold_is_validated(value: Any) -> None:
    with pytest.raises(ConfigError, match="confidence_threshold"):
        InputValidationCheck.resolve_params({"confidence_threshold": value})


def test_threshold_param_changes_what_counts_as_confident() -> None:
    data = _tabular()
    strict = _run(DefendedTarget(data.sample_shape), data, confidence_threshold=0.5)
    assert strict.metrics["confident_on_garbage"] == 1  # random_noise now counts
    assert _by_title(strict, "out-of-domain").evidence["confidence_threshold"] == 0.5


def test_registered_and_discoverable() -> None:
    assert registered()["robustness.input_validation"] is InputValidationCheck
    described = InputValidationCheck.describe()
    assert "max_confidence.*" in described["metrics"]
    assert [p["name"] for p in described["parameters"]] == ["confidence_threshold"]
