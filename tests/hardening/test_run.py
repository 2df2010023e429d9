"""``run_hardening`` and ``write_hardening`` with a tiny scikit-learn hardener of the test's own."""

import json
from dataclasses import dataclass, field

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

import aiarmor.hardening.run as run_module
from aiarmor.core.comparison import ComparisonRow, before_after_metrics, report_metrics
from aiarmor.core.errors import ConfigError
from aiarmor.core.findings import CheckResult, CheckStatus, Finding, Severity
from aiarmor.data.dataset import Dataset
from aiarmor.hardening import (
    STAGES,
    Hardened,
    Hardener,
    run_hardening,
    save_model,
    saved_subject,
    write_hardening,
)
from aiarmor.reporting import validate_report
from aiarmor.targets import sklearn_target

PERF = "baseline.performance"


def _data(seed, n=120):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return Dataset(x=x, y=(x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int64), name="toy")


@dataclass
class Refit:
    """Refits the estimator on the training data's first feature only (a worse model)."""

    events: list = field(default_factory=list)
    fail: bool = False
    data_file: str | None = None
    checks: tuple[str, ...] = (PERF,)
    model_file: str = "model.skops"

    def validate(self, target, train, data):
        self.events.append("validate")
        if self.fail:
            raise ConfigError("cannot harden this")

    def policy_for(self, policy, data):
        self.events.append("policy")
        return policy

    def transform(self, target, train, data):
        self.events.append("transform")
        mask = np.array([1, 0, 0], dtype=np.float32)
        model = LogisticRegression().fit(train.x * mask, train.y)
        masked = Dataset(x=data.x * mask, y=data.y, name="masked")
        return Hardened(target=sklearn_target(model, name="refit"), model=model, result="r",
                        info={"refit": {"features": 1}}, data=masked,
                        extra={"note": "extra"}, data_file=self.data_file)  # fmt: skip

    def section(self, before, after, hardened):
        b, a = report_metrics(before, PERF), report_metrics(after, PERF)
        rows = [ComparisonRow("accuracy", b["accuracy"], a["accuracy"])]
        finding = Finding(check_id="toy.section", severity=Severity.INFO, title="compared",
                          detail="d", remediation="r",
                          evidence={"rows": [r.to_dict() for r in rows]})  # fmt: skip
        return CheckResult(id="toy.section", title="Toy", status=CheckStatus.PASSED,
                           metrics=before_after_metrics(rows), findings=(finding,))  # fmt: skip


@pytest.fixture(scope="module")
def setup():
    train, test = _data(0), _data(1)
    target = sklearn_target(LogisticRegression().fit(train.x, train.y), name="original")
    return target, train, test


def test_both_audits_run_the_same_checks_budget_and_seed_and_the_section_is_added(setup):
    target, train, test = setup
    hardener = Refit()
    stages = []
    run = run_hardening(hardener, target, train, test, budget="quick", seed=7,
                        subject={"model_spec": "m.skops"}, on_stage=stages.append)  # fmt: skip
    assert isinstance(hardener, Hardener)
    assert stages == list(STAGES)
    assert hardener.events == ["validate", "policy", "transform"]
    for report, stage in ((run.before, "before"), (run.after, "after")):
        assert report.subject["stage"] == stage
        assert (report.subject["budget"], report.subject["seed"]) == ("quick", 7)
    assert [c.id for c in run.before.checks] == [PERF]
    assert [c.id for c in run.after.checks] == [PERF, "toy.section"]
    assert run.before.subject["model_spec"] == "m.skops"
    assert run.after.subject["model_spec"] == "model.skops"  # the saved estimator's file
    assert run.after.subject["refit"] == {"features": 1}
    assert run.after.subject["data"] == "masked"  # the data as the hardened model takes it
    m = run.after.check("toy.section").metrics
    assert m["before.accuracy"] == run.before.check(PERF).metrics["accuracy"]
    assert m["after.accuracy"] == run.after.check(PERF).metrics["accuracy"]
    assert run.section_id == "toy.section" and run.model_file == "model.skops"


def test_a_failed_validation_stops_before_any_audit(setup, monkeypatch):
    monkeypatch.setattr(run_module, "audit", lambda *a, **k: pytest.fail("audited"))
    hardener = Refit(fail=True)
    with pytest.raises(ConfigError, match="cannot harden this"):
        run_hardening(hardener, *setup)
    assert hardener.events == ["validate"]


def test_the_outputs_are_the_model_both_reports_the_comparison_and_the_data(setup, tmp_path):
    run = run_hardening(Refit(data_file="data.npz"), *setup, budget="quick", out_dir=tmp_path)
    written = write_hardening(run, tmp_path)
    assert list(written) == ["model", "json", "html", "sarif", "junit", "before", "comparison",
                             "data"]  # fmt: skip
    for path in (tmp_path / "report.json", tmp_path / "before" / "report.json"):
        validate_report(json.loads(path.read_text()))
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    assert list(comparison) == ["refit", "rows", "note"]
    assert comparison["rows"][0]["metric"] == "accuracy"
    model = skops.io.load(tmp_path / "model.skops", trusted=skops.io.get_untrusted_types(
        file=tmp_path / "model.skops"))  # fmt: skip
    np.testing.assert_array_equal(model.coef_, run.hardened.model.coef_)
    saved = np.load(tmp_path / "data.npz")
    np.testing.assert_array_equal(saved["x"], run.hardened.data.x)


def test_the_saved_subject_names_weights_for_a_factory_or_the_estimator_file(tmp_path):
    spec = {"model_spec": "m.py:build", "weights": "w.safetensors"}
    assert saved_subject("model.safetensors", spec, tmp_path) == {
        "model_spec": "m.py:build", "weights": str(tmp_path / "model.safetensors")}  # fmt: skip
    assert saved_subject("model.safetensors", spec, None)["weights"] is None
    assert saved_subject("model.skops", spec, tmp_path) == {"model_spec": "model.skops"}


def test_a_torch_module_is_saved_as_safetensors_and_nothing_else_is_guessed(tmp_path):
    import torch
    from safetensors.torch import load_file

    module = torch.nn.Linear(2, 2)
    save_model(module, tmp_path / "m.safetensors")
    assert set(load_file(str(tmp_path / "m.safetensors"))) == {"weight", "bias"}
    with pytest.raises(ValueError, match="no writer"):
        save_model(module, tmp_path / "m.pt")
