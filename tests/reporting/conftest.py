"""Hand-built reports for the reporting tests: every status, severity and chart kind."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from aiarmor.core.findings import Chart, CheckResult, CheckStatus, Finding, Series, Severity
from aiarmor.core.report import Report, Verdict

XSS = "<script>alert(1)</script>"
SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def _finding(severity: Severity, title: str, **kw: object) -> Finding:
    base: dict[str, object] = {
        "check_id": "robustness.evasion",
        "severity": severity,
        "title": title,
        "detail": f"{title} observed under a 0.03 L-inf budget.",
        "remediation": "Train adversarially (aiarmor harden adversarial).",
        "standards": ("ATLAS:AML.T0015", "OWASP-ML:ML01"),
        "evidence": {"epsilon": 0.03, "robust_accuracy": 0.12},
    }
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


def _charts() -> tuple[Chart, ...]:
    bar = Chart(
        id="acc",
        title="Accuracy under attack",
        kind="bar",
        series=(
            Series("clean", ("0", "0.03", "0.1"), (0.97, 0.97, 0.97), (0.01, 0.01, 0.01)),
            Series("adversarial", ("0", "0.03", "0.1"), (0.97, 0.41, 0.12), (0.01, 0.03, 0.02)),
        ),
        x_label="epsilon",
        y_label="accuracy",
    )
    line = Chart(
        id="curve",
        title="Robust accuracy vs. budget",
        kind="line",
        series=(Series("PGD", (0.0, 0.01, 0.03, 0.1), (0.97, 0.8, 0.41, math.nan)),),
        x_label="epsilon",
        y_label="robust accuracy",
    )
    return bar, line


def _reliability() -> Chart:
    return Chart(
        id="calibration",
        title="Reliability diagram",
        kind="reliability",
        series=(Series("model", (0.1, 0.3, 0.5, 0.7, 0.9), (0.05, 0.22, 0.48, 0.75, 0.97)),),
        x_label="confidence",
        y_label="accuracy",
    )


def make_report(
    *, title: str = "Accuracy collapses under PGD", model: str = "models/classifier.onnx"
) -> Report:
    """A failing report with one check of each status (optionally with hostile strings)."""
    failed = CheckResult(
        id="robustness.evasion",
        title="Evasion robustness",
        status=CheckStatus.FAILED,
        metrics={"clean_accuracy": 0.97, "robust_accuracy.linf_0.03": 0.41},
        findings=(
            _finding(Severity.CRITICAL, title),
            _finding(Severity.HIGH, "Gradient masking suspected"),
            _finding(Severity.MEDIUM, "Black-box transfer attack succeeds"),
            _finding(Severity.LOW, "Confidence leaks margin", evidence={"margin": [0.1, 0.2]}),
            _finding(
                Severity.HIGH,
                "Accepted risk",
                suppressed=True,
                justification="reviewed 2026-11-02: input gateway clips inputs",
            ),
        ),
        charts=_charts(),
        duration_s=3.21,
        standards=("ATLAS:AML.T0015", "OWASP-ML:ML01", "NIST-AI-RMF:MEASURE-2.7"),
    )
    passed = CheckResult(
        id="baseline.performance",
        title="Baseline performance",
        status=CheckStatus.PASSED,
        metrics={"accuracy": 0.97, "ece": math.nan, "n": 1000},
        findings=(
            _finding(Severity.INFO, "Calibration is reasonable", check_id="baseline.performance"),
        ),
        charts=(_reliability(),),
        duration_s=0.4,
        standards=("NIST-AI-RMF:MEASURE-2.5",),
    )
    skipped = CheckResult(
        id="privacy.membership",
        title="Membership inference",
        status=CheckStatus.SKIPPED,
        reason="needs --train data",
        standards=("ATLAS:AML.T0024.000", "OWASP-ML:ML04"),
    )
    errored = CheckResult(
        id="poisoning.backdoor",
        title="Backdoor detection",
        status=CheckStatus.ERROR,
        reason="CheckError: model returned NaN logits",
        duration_s=0.05,
    )
    return Report(
        tool={"name": "aiarmor", "version": "0.1.0"},
        subject={"model": model, "data": "data/test.npz", "n_samples": 1000, "seed": 0},
        verdict=Verdict.FAIL,
        checks=(failed, passed, skipped, errored),
        verdict_reasons=("robustness.evasion: critical finding 'Accuracy collapses under PGD'",),
        errors=("poisoning.backdoor: CheckError: model returned NaN logits",),
        timings={"total": 3.7, "robustness.evasion": 3.21},
        created="2026-11-22T09:00:00Z",
    )


@pytest.fixture(scope="session")
def report() -> Report:
    """A failing report with every check status, severity and chart kind."""
    return make_report()


def make_hostile_report() -> Report:
    """A report whose attacker-controlled strings try to inject markup and break XML."""
    base = make_report(title=XSS, model=f'evil"><img src=x onerror=alert(1)>{XSS}.onnx')
    failed = base.checks[0]
    evil = Finding(
        check_id=failed.id,
        severity=Severity.HIGH,
        title="Pickle opcode GLOBAL os.system\x00\x1b[31m",
        detail=f"found string {XSS} and \x07bell\x0b",
        remediation="</pre><script>x()</script>",
        standards=("OWASP-ML:ML06",),
        evidence={"string": XSS, "nested": {"k": "</pre><script>alert(2)</script>"}},
    )
    evil_chart = Chart(
        id="evil",
        title=f"</svg>{XSS}",
        kind="bar",
        series=(Series(f"{XSS}$", (XSS, "$x"), (1.0, 2.0)),),
        x_label=XSS,
        y_label="$unbalanced",
    )
    checks = (
        CheckResult(
            id=failed.id,
            title=failed.title,
            status=failed.status,
            metrics={f"m{XSS}": 1.0},
            findings=(*failed.findings, evil),
            charts=(evil_chart,),
            standards=failed.standards,
        ),
        *base.checks[1:],
    )
    return Report(
        tool=base.tool,
        subject={**base.subject, "note": XSS},
        verdict=base.verdict,
        checks=checks,
        verdict_reasons=(f"because {XSS}",),
        errors=(f"crash {XSS}",),
        timings=base.timings,
        created=base.created,
    )


@pytest.fixture(scope="session")
def hostile_report() -> Report:
    """A report whose attacker-controlled strings try to inject markup and break XML."""
    return make_hostile_report()


@pytest.fixture(scope="session")
def sarif_validator() -> Draft4Validator:
    """The official SARIF 2.1.0 schema (``data/sarif-schema-2.1.0.json``)."""
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)
