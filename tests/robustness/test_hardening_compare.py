"""The before/after section that adversarial hardening adds to the hardened model's report."""

import json

import pytest

from aiarmor.core.comparison import with_section
from aiarmor.core.findings import CheckResult, CheckStatus, Severity
from aiarmor.core.report import Report, Verdict
from aiarmor.reporting import render_html, validate_report
from aiarmor.robustness.hardening import SECTION_ID, robustness_comparison
from aiarmor.robustness.hardening.compare import comparison_rows


def _report(accuracy, robust, evasion=True):
    checks = [CheckResult("baseline.performance", "Performance", CheckStatus.PASSED,
                          metrics={"accuracy": accuracy, "ece": 0.02})]  # fmt: skip
    if evasion:
        metrics = {"clean_accuracy": accuracy, "n_samples": 100.0, "queries": 10.0}
        for eps, value in robust.items():
            metrics |= {f"robust_accuracy.eps={eps:g}": value,
                        f"robust_accuracy_ci_low.eps={eps:g}": value - 0.05}  # fmt: skip
        checks.append(CheckResult("robustness.evasion", "Evasion", CheckStatus.FAILED, metrics))
    return Report(tool={"name": "aiarmor", "version": "0"}, subject={"model": "m"},
                  verdict=Verdict.PASS, checks=tuple(checks))  # fmt: skip


def test_rows_pair_accuracy_clean_accuracy_and_the_robust_curve_sorted_by_epsilon():
    before = _report(0.95, {0.2: 0.0, 0.05: 0.6, 0.1: 0.3})
    after = _report(0.93, {0.05: 0.8, 0.1: 0.6, 0.2: 0.1})
    rows = comparison_rows(before, after)
    assert [r.metric for r in rows] == [
        "accuracy", "evasion.clean_accuracy",
        "robust_accuracy.eps=0.05", "robust_accuracy.eps=0.1", "robust_accuracy.eps=0.2",
    ]  # fmt: skip
    assert rows[3].change == pytest.approx(0.3)


def test_a_gain_at_the_training_epsilon_is_info_with_the_accuracy_cost():
    before, after = _report(0.95, {0.05: 0.6, 0.1: 0.3}), _report(0.93, {0.05: 0.8, 0.1: 0.6})
    section = robustness_comparison(before, after, method="pgd", epsilon=0.1)
    assert section.id == SECTION_ID and section.status is CheckStatus.PASSED
    (finding,) = section.findings
    assert finding.severity is Severity.INFO
    assert "30.0% to 60.0%" in finding.detail and "95.0% -> 93.0%" in finding.detail
    assert section.metrics["change.robust_accuracy.eps=0.1"] == pytest.approx(0.3)
    (chart,) = section.charts
    assert [s.name for s in chart.series] == ["before", "after"]
    assert chart.series[1].x == (0.0, 0.05, 0.1) and chart.series[1].y == (0.93, 0.8, 0.6)
    report = with_section(after, section, {"hardening": {"method": "pgd"}})
    doc = json.loads(json.dumps(report.to_dict()))
    validate_report(doc)
    assert SECTION_ID in render_html(report)


def test_no_gain_or_no_evasion_audit_is_low():
    same = robustness_comparison(_report(0.9, {0.1: 0.3}), _report(0.9, {0.1: 0.3}),
                                 method="trades", epsilon=0.12)  # fmt: skip
    assert same.status is CheckStatus.PASSED  # a low finding does not fail fail_on=high
    assert same.findings[0].severity is Severity.LOW
    assert same.findings[0].evidence["judged_epsilon"] == 0.1  # the closest grid point
    missing = robustness_comparison(_report(0.9, {}, evasion=False), _report(0.9, {0.1: 0.5}),
                                    method="pgd", epsilon=0.1)  # fmt: skip
    assert missing.findings[0].severity is Severity.LOW and missing.charts == ()
