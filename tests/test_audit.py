"""The orchestrator: isolation, skipping, thresholds, suppressions, verdict, determinism."""

import numpy as np
import pytest

from aiarmor import audit
from aiarmor.core import (
    Check,
    CheckOutcome,
    CheckStatus,
    InputError,
    Param,
    PolicyError,
    Severity,
    Verdict,
    parse_policy,
    register,
)
from aiarmor.core.registry import unregister
from aiarmor.data.dataset import Dataset


class LinearTarget:
    """A tiny score target: softmax of a fixed linear map."""

    name = "linear"
    n_classes = 2
    bounds = (0.0, 1.0)

    def __init__(self):
        self.queries = 0
        self.w = np.array([[1.0, -1.0], [-1.0, 1.0]], dtype=np.float32)

    def predict_proba(self, x):
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        self.queries += len(x)
        z = x @ self.w
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x):
        return self.predict_proba(x).argmax(axis=1)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2), dtype=np.float32)
    y = (x[:, 1] > x[:, 0]).astype(np.int64)
    return Dataset(x=x, y=y, name="toy")


def _check(check_id, run, *, applicable=None, metrics=("score",), params=()):
    attrs = {
        "__doc__": "A test check.",
        "id": check_id,
        "title": check_id,
        "summary": "test",
        "standards": ("NIST-AI-RMF:MEASURE-2.5",),
        "metrics": metrics,
        "params": params,
        "run": run,
    }
    if applicable is not None:
        attrs["applicable"] = applicable
    return register(type(check_id.replace(".", "_"), (Check,), attrs))


@pytest.fixture
def checks():
    def score(self, ctx):
        acc = float((ctx.target.predict(ctx.data.x) == ctx.data.y).mean())
        noise = float(ctx.rng().random())
        findings = ()
        if acc < ctx.params["min_acc"]:
            findings = (self.finding(Severity.HIGH, "accuracy low", "d", "r"),)
        return CheckOutcome({"score": acc, "noise": noise}, findings)

    def boom(self, ctx):
        raise RuntimeError("exploded\nwith two lines")

    def medium(self, ctx):
        return CheckOutcome({"score": 1.0}, (self.finding(Severity.MEDIUM, "meh", "d", "r"),))

    made = [
        _check(
            "t.score",
            score,
            metrics=("score", "noise"),
            params=(Param("min_acc", float, 0.0, "min"),),
        ),
        _check("t.boom", boom),
        _check("t.skip", lambda self, ctx: CheckOutcome({}), applicable=lambda self, ctx: "no"),
        _check("t.medium", medium),
    ]
    yield [c.id for c in made]
    for c in made:
        unregister(c.id)


def test_one_crashing_check_does_not_sink_the_others(checks):
    report = audit(LinearTarget(), _data(), checks=checks)
    by_id = {c.id: c for c in report.checks}
    assert by_id["t.score"].status is CheckStatus.PASSED
    assert by_id["t.score"].metrics["score"] == 1.0
    assert by_id["t.boom"].status is CheckStatus.ERROR
    assert by_id["t.boom"].reason == "RuntimeError: exploded with two lines"
    assert by_id["t.skip"].status is CheckStatus.SKIPPED and by_id["t.skip"].reason == "no"
    # a medium finding does not fail the default (high) policy: the check passed with it
    assert by_id["t.medium"].status is CheckStatus.PASSED and by_id["t.medium"].findings
    # ... but a check that could not finish leaves the audit incomplete, never "pass"
    assert report.verdict is Verdict.INCOMPLETE
    assert report.exit_code == 2
    assert report.errors == ("t.boom: RuntimeError: exploded with two lines",)
    assert report.verdict_reasons == ("t.boom: could not finish (RuntimeError: exploded with "
                                      "two lines)",)  # fmt: skip
    assert set(report.timings) == {"total", *checks}


def test_fail_on_and_policy_params_drive_the_verdict(checks):
    pol = parse_policy('[policy]\nfail_on = "medium"\n[checks."t.score"]\nmin_acc = 1.5')
    report = audit(LinearTarget(), _data(), checks=["t.score", "t.medium"], policy=pol)
    assert report.verdict is Verdict.FAIL and report.exit_code == 1
    assert [f.title for f in report.findings] == ["accuracy low", "meh"]
    assert len(report.verdict_reasons) == 2


@pytest.mark.parametrize(
    ("fail_on", "status", "verdict"),
    [("low", CheckStatus.FAILED, Verdict.FAIL), ("medium", CheckStatus.FAILED, Verdict.FAIL),
     ("high", CheckStatus.PASSED, Verdict.PASS), ("critical", CheckStatus.PASSED, Verdict.PASS)],
)  # fmt: skip
def test_check_status_and_verdict_follow_one_rule(checks, fail_on, status, verdict):
    """A check is failed exactly when its findings fail the verdict (issue 14)."""
    pol = parse_policy(f'[policy]\nfail_on = "{fail_on}"')
    report = audit(LinearTarget(), _data(), checks=["t.score", "t.medium"], policy=pol)
    assert report.check("t.medium").status is status
    assert report.verdict is verdict
    failed = [c.id for c in report.checks if c.status is CheckStatus.FAILED]
    assert len(failed) == len(report.verdict_reasons)


def test_an_errored_required_or_failing_audit_is_still_incomplete(checks):
    pol = parse_policy('[policy]\nfail_on = "medium"')
    report = audit(LinearTarget(), _data(), checks=["t.medium", "t.boom"], policy=pol)
    assert report.verdict is Verdict.INCOMPLETE and report.exit_code == 2
    assert any(r.startswith("t.medium: 1 finding") for r in report.verdict_reasons)
    assert report.to_dict()["verdict"] == "incomplete"


def test_thresholds_and_suppressions(checks):
    pol = parse_policy(
        """
        [thresholds."t.score".score]
        min = 1.01
        severity = "critical"
        [suppress."t.medium"]
        justification = "reviewed"
        """
    )
    report = audit(LinearTarget(), _data(), checks=["t.score", "t.medium"], policy=pol)
    score = report.check("t.score")
    assert score.status is CheckStatus.FAILED
    (f,) = score.findings
    assert f.severity is Severity.CRITICAL and "below the policy minimum" in f.title
    (m,) = report.check("t.medium").findings
    assert m.suppressed and m.justification == "reviewed"
    assert report.check("t.medium").status is CheckStatus.PASSED
    assert report.summary()["suppressed"] == 1
    assert report.verdict is Verdict.FAIL


def test_required_check_that_cannot_run_fails_the_verdict(checks):
    pol = parse_policy('[policy]\nrequired = ["t.skip"]')
    report = audit(LinearTarget(), _data(), checks=["t.score"], policy=pol)
    assert [c.id for c in report.checks] == ["t.score", "t.skip"]
    assert report.verdict is Verdict.FAIL
    assert "required by the policy but skipped" in report.verdict_reasons[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[checks."t.nope"]\na = 1', "unknown check"),
        ('[checks."t.score"]\nmin_ac = 1', "unknown parameter"),
        ('[thresholds."t.score".accuracy]\nmin = 1', "reports no such metric"),
    ],
)
def test_policy_typos_are_rejected_before_running(checks, text, message):
    with pytest.raises((PolicyError, Exception), match=message):
        audit(LinearTarget(), _data(), checks=["t.score"], policy=parse_policy(text))


def test_same_seed_same_report(checks):
    a = audit(LinearTarget(), _data(), checks=["t.score"], seed=3)
    b = audit(LinearTarget(), _data(), checks=["t.score"], seed=3)
    c = audit(LinearTarget(), _data(), checks=["t.score"], seed=4)
    assert a.check("t.score").metrics == b.check("t.score").metrics
    assert a.check("t.score").metrics != c.check("t.score").metrics


def test_preflight_rejects_a_model_that_cannot_read_the_data(checks):
    wide = Dataset(x=np.zeros((4, 3), np.float32), y=np.zeros(4, np.int64), name="wide")
    with pytest.raises(InputError, match="cannot process samples of shape"):
        audit(LinearTarget(), wide, checks=["t.score"])
    many = Dataset(x=np.zeros((4, 2), np.float32), y=np.arange(4, dtype=np.int64), name="many")
    with pytest.raises(InputError, match="has 4 classes but the model predicts 2"):
        audit(LinearTarget(), many, checks=["t.score"])


def test_report_json_is_strict(checks):
    import json

    report = audit(LinearTarget(), _data(), checks=checks)
    doc = report.to_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["schema_version"] == "2.0"
    assert doc["subject"]["model"] == "linear" and doc["subject"]["n_samples"] == 40
    assert doc["summary"]["checks"] == {"passed": 2, "failed": 0, "skipped": 1, "error": 1}
