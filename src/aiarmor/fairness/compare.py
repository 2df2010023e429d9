"""Before/after tables of a mitigation, as a section of the mitigated model's report.

``aiarmor harden fairness`` audits the original and the mitigated model with the same checks,
data, budget and seed. :func:`comparison_section` turns the two reports into one more check
entry, ``fairness.mitigation``, whose metrics are ``before.<metric>``, ``after.<metric>`` and
``change.<metric>`` for every disparity of ``fairness.group_metrics`` and the accuracy of
``baseline.performance``, with a before/after chart and a finding that states the disparity
reduction and the accuracy cost. :func:`with_section` (from :mod:`aiarmor.core.comparison`,
shared by every ``harden`` command) appends it to the mitigated model's report, so every
renderer (JSON, HTML, SARIF, JUnit) shows it without knowing about it.
The section is not a registered check: it compares two audits instead of measuring a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from aiarmor.core.comparison import ComparisonRow as ComparisonRow  # re-exported
from aiarmor.core.comparison import before_after_metrics, finding_maker, report_metrics
from aiarmor.core.comparison import with_section as with_section  # re-exported
from aiarmor.core.findings import (
    Chart,
    CheckResult,
    Finding,
    Series,
    Severity,
    status_of,
)
from aiarmor.core.report import Report
from aiarmor.fairness.metrics import DISPARITIES

SECTION_ID = "fairness.mitigation"
"""Id of the before/after section in the mitigated model's report."""

GROUP_CHECK = "fairness.group_metrics"
PERFORMANCE_CHECK = "baseline.performance"
PERFORMANCE_METRICS = ("accuracy", "balanced_accuracy")
_STANDARDS = ("NIST-AI-RMF:MANAGE", "NIST-AI-RMF:MEASURE-2.11")

_REMEDIATION = (
    "Weigh the disparity reduction against the accuracy cost; if it is not enough, "
    "try the other method or constraint, revisit the training data, and document the "
    "accepted trade-off in the policy."
)
_finding = finding_maker(SECTION_ID, _REMEDIATION, _STANDARDS)


def comparison_rows(before: Report, after: Report) -> list[ComparisonRow]:
    """Disparities (point estimates) and accuracy present in both reports."""
    rows = []
    for check_id, keep in ((GROUP_CHECK, _is_disparity), (PERFORMANCE_CHECK, _is_performance)):
        b, a = report_metrics(before, check_id), report_metrics(after, check_id)
        rows += [ComparisonRow(m, float(b[m]), float(a[m])) for m in b if keep(m) and m in a]
    return rows


def _is_disparity(name: str) -> bool:
    return name.split(".", 1)[0] in DISPARITIES


def _is_performance(name: str) -> bool:
    return name in PERFORMANCE_METRICS


def comparison_section(
    before: Report,
    after: Report,
    *,
    method: str,
    constraint_metric: str,
    attribute: str,
) -> CheckResult:
    """The ``fairness.mitigation`` entry: before/after metrics, chart and the verdict on it.

    ``constraint_metric`` (e.g. ``demographic_parity_difference``) and ``attribute`` (``sex``,
    or ``sex&race`` for a joint mitigation) name the disparity the mitigation targeted.
    """
    rows = comparison_rows(before, after)
    metrics = before_after_metrics(rows)
    target = f"{constraint_metric}.{attribute}"
    finding = _verdict_finding(rows, target, method)
    status = status_of((finding,), after.fail_on)
    return CheckResult(
        id=SECTION_ID,
        title="Fairness mitigation: before and after",
        status=status,
        metrics=metrics,
        findings=(finding,),
        charts=(_chart(rows, attribute),),
        standards=_STANDARDS,
    )


def _verdict_finding(rows: Sequence[ComparisonRow], target: str, method: str) -> Finding:
    """INFO with the reduction and its accuracy cost, or LOW when the disparity did not drop."""
    by_name = {r.metric: r for r in rows}
    chosen, acc = by_name.get(target), by_name.get("accuracy")
    cost = (
        f"accuracy {acc.before:.4f} -> {acc.after:.4f} ({acc.change:+.4f})"
        if acc
        else ("accuracy not measured (baseline.performance did not run)")
    )
    evidence: dict[str, Any] = {"rows": [r.to_dict() for r in rows], "target": target}
    if chosen is None or not (math.isfinite(chosen.before) and math.isfinite(chosen.after)):
        return _finding(
            Severity.LOW,
            f"Mitigation effect on {target} could not be measured",
            f"{target} is missing from one of the audits; {cost}.",
            evidence,
        )
    reduction = 1.0 - chosen.after / chosen.before if chosen.before > 0 else 0.0
    evidence |= {"reduction": reduction}
    detail = (f"The {method} mitigation changed {target} from {chosen.before:.4f} to "
              f"{chosen.after:.4f} ({reduction:.0%} reduction); {cost}.")  # fmt: skip
    if chosen.after >= chosen.before:
        return _finding(Severity.LOW, f"Mitigation did not reduce {target}", detail, evidence)
    return _finding(Severity.INFO, f"Mitigation reduced {target} by {reduction:.0%}",
                    detail, evidence)  # fmt: skip


def _chart(rows: Sequence[ComparisonRow], attribute: str) -> Chart:
    """Before/after bars for the mitigated attribute's disparities and the accuracy."""
    shown = [r for r in rows if r.metric.endswith(f".{attribute}") or "." not in r.metric]
    labels = tuple(r.metric.removesuffix(f".{attribute}") for r in shown)
    return Chart(
        id="before-after",
        title=f"Before and after mitigation ({attribute})",
        kind="bar",
        series=(Series("before", labels, tuple(r.before for r in shown)),
                Series("after", labels, tuple(r.after for r in shown))),
        x_label="metric",
        y_label="value",
    )  # fmt: skip
