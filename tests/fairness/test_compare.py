"""The before/after section that a mitigation adds to the mitigated model's report."""

import json

import pytest

from aiarmor.core.findings import CheckResult, CheckStatus, Severity
from aiarmor.core.report import Report, Verdict
from aiarmor.fairness.compare import SECTION_ID, comparison_rows, comparison_section, with_section
from aiarmor.reporting import render_html, validate_report


def _report(dpd, eod, accuracy, fail_on="high"):
    checks = (
        CheckResult(
            "baseline.performance", "Performance", CheckStatus.PASSED,
            metrics={"accuracy": accuracy, "balanced_accuracy": accuracy - 0.05, "ece": 0.02},
        ),
        CheckResult(
            "fairness.group_metrics", "Group fairness", CheckStatus.FAILED,
            metrics={
                "demographic_parity_difference.sex": dpd,
                "demographic_parity_difference_ci_low.sex": dpd - 0.01,
                "equalized_odds_difference.sex": eod,
                "selection_rate.sex=F": 0.1,
            },
        ),
    )  # fmt: skip
    return Report(
        tool={"name": "aiarmor", "version": "0"},
        subject={"model": "m", "fail_on": fail_on},
        verdict=Verdict.PASS,
        checks=checks,
    )


def _section(before, after):
    return comparison_section(
        before, after, method="threshold",
        constraint_metric="demographic_parity_difference", attribute="sex",
    )  # fmt: skip


def test_rows_pair_point_estimates_and_accuracy_only():
    rows = comparison_rows(_report(0.2, 0.1, 0.85), _report(0.02, 0.08, 0.83))
    assert [r.metric for r in rows] == [
        "demographic_parity_difference.sex", "equalized_odds_difference.sex",
        "accuracy", "balanced_accuracy",
    ]  # fmt: skip
    assert rows[0].change == pytest.approx(-0.18)


def test_the_section_states_the_reduction_and_the_accuracy_cost():
    section = _section(_report(0.2, 0.1, 0.85), _report(0.02, 0.08, 0.83))
    assert section.id == SECTION_ID and section.status is CheckStatus.PASSED
    m = section.metrics
    assert m["before.accuracy"] == 0.85 and m["after.accuracy"] == 0.83
    assert m["change.accuracy"] == pytest.approx(-0.02)
    assert m["change.demographic_parity_difference.sex"] == pytest.approx(-0.18)
    (finding,) = section.findings
    assert finding.severity is Severity.INFO
    assert "90%" in finding.title and "accuracy 0.8500 -> 0.8300" in finding.detail
    (chart,) = section.charts
    assert [s.name for s in chart.series] == ["before", "after"]
    assert "accuracy" in chart.series[0].x


def test_a_mitigation_that_did_not_help_is_a_finding():
    section = _section(_report(0.05, 0.1, 0.85), _report(0.06, 0.08, 0.84))
    assert section.status is CheckStatus.PASSED  # a low finding does not fail fail_on=high
    assert section.findings[0].severity is Severity.LOW
    assert section.findings[0].title.startswith("Mitigation did not reduce")


def test_the_section_lands_in_a_valid_report_and_can_fail_it():
    before, after = _report(0.05, 0.1, 0.85), _report(0.06, 0.08, 0.84, fail_on="low")
    report = with_section(after, _section(before, after), {"mitigation": {"method": "x"}})
    assert report.checks[-1].id == SECTION_ID
    assert report.subject["mitigation"] == {"method": "x"}
    assert report.verdict is Verdict.FAIL and report.verdict_reasons[-1].startswith(SECTION_ID)
    validate_report(json.loads(json.dumps(report.to_dict(), allow_nan=False)))
    assert "Fairness mitigation: before and after" in render_html(report)
    passing = with_section(_report(0.2, 0.1, 0.85), _section(before, _report(0.01, 0.1, 0.8)), {})
    assert passing.verdict is Verdict.PASS
