"""The before/after section of an adversarial hardening, for the hardened model's report.

``aiarmor harden adversarial`` audits the original and the hardened model with
``robustness.evasion`` and ``baseline.performance`` on the same data, budget and seed.
:func:`robustness_comparison` turns the two reports into one more check entry,
``robustness.hardening``: ``before.<metric>``, ``after.<metric>`` and ``change.<metric>`` for
the accuracy (``baseline.performance``), the clean accuracy of the evaluated sample and the
robust accuracy at each epsilon of the grid (``robustness.evasion``), a chart of both
accuracy-vs-epsilon curves, and a finding that states the gain at the training epsilon and its
cost in clean accuracy. :func:`aiarmor.core.comparison.with_section` adds it to the report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from aiarmor.core.comparison import (
    ComparisonRow,
    before_after_metrics,
    finding_maker,
    report_metrics,
)
from aiarmor.core.findings import (
    Chart,
    CheckResult,
    Finding,
    Series,
    Severity,
    status_of,
)
from aiarmor.core.report import Report

SECTION_ID = "robustness.hardening"
"""Id of the before/after section in the hardened model's report."""

EVASION_CHECK = "robustness.evasion"
PERFORMANCE_CHECK = "baseline.performance"
_ROBUST = "robust_accuracy.eps="
_STANDARDS = ("ATLAS:AML.T0043", "OWASP-ML:ML01", "NIST-AI-RMF:MANAGE", "NIST-AI-RMF:MEASURE-2.7")

_REMEDIATION = (
    "Weigh the robustness gain against the clean-accuracy cost. If the gain is too "
    "small, train longer, use more inner steps or a warm-up, or try the other method "
    "(TRADES trades clean accuracy for robustness through beta); confirm the hardened "
    "model's robustness with the thorough budget, which also checks for gradient masking."
)
_finding = finding_maker(SECTION_ID, _REMEDIATION, _STANDARDS)


def comparison_rows(before: Report, after: Report) -> list[ComparisonRow]:
    """Accuracy, clean accuracy and robust accuracy per epsilon present in both reports."""
    rows = []
    for check_id, prefix, keep in (
        (PERFORMANCE_CHECK, "", ("accuracy", "balanced_accuracy")),
        (EVASION_CHECK, "evasion.", ("clean_accuracy",)),
    ):
        b, a = report_metrics(before, check_id), report_metrics(after, check_id)
        rows += [ComparisonRow(prefix + m, float(b[m]), float(a[m]))
                 for m in keep if m in b and m in a]  # fmt: skip
    b, a = report_metrics(before, EVASION_CHECK), report_metrics(after, EVASION_CHECK)
    robust = [m for m in b if m.startswith(_ROBUST) and m in a]
    rows += [ComparisonRow(m, float(b[m]), float(a[m])) for m in sorted(robust, key=epsilon_of)]
    return rows


def epsilon_of(metric: str) -> float:
    """The epsilon of a ``robust_accuracy.eps=<e>`` metric name."""
    return float(metric.removeprefix(_ROBUST))


def robustness_comparison(
    before: Report, after: Report, *, method: str, epsilon: float, norm: str = "linf"
) -> CheckResult:
    """The ``robustness.hardening`` entry: before/after metrics, chart and the verdict on it.

    ``method`` and ``epsilon`` (the training epsilon, judged at the grid point closest to it)
    describe the hardening.
    """
    rows = comparison_rows(before, after)
    finding = _verdict_finding(rows, method, epsilon, norm)
    status = status_of((finding,), after.fail_on)
    return CheckResult(
        id=SECTION_ID,
        title="Adversarial hardening: before and after",
        status=status,
        metrics=before_after_metrics(rows),
        findings=(finding,),
        charts=_charts(rows, norm),
        standards=_STANDARDS,
    )


def _verdict_finding(
    rows: Sequence[ComparisonRow], method: str, epsilon: float, norm: str
) -> Finding:
    """INFO with the robust-accuracy gain and the clean-accuracy cost, or LOW without a gain."""
    robust = [r for r in rows if r.metric.startswith(_ROBUST)]
    evidence: dict[str, Any] = {"rows": [r.to_dict() for r in rows], "method": method,
                                "training_epsilon": epsilon, "norm": norm}  # fmt: skip
    if not robust:
        return _finding(Severity.LOW, "Robustness before and after could not be compared",
                        "robustness.evasion did not report robust accuracy in both audits.",
                        evidence)  # fmt: skip
    point = min(robust, key=lambda r: abs(epsilon_of(r.metric) - epsilon))
    eps = epsilon_of(point.metric)
    clean = next((r for r in rows if r.metric == "accuracy"), None)
    cost = (f"accuracy {clean.before:.1%} -> {clean.after:.1%} ({clean.change:+.1%})"
            if clean else "accuracy not measured (baseline.performance did not run)")  # fmt: skip
    evidence |= {"judged_epsilon": eps}
    detail = (f"{method.upper()} adversarial training at {norm} epsilon {epsilon:g} changed "
              f"robust accuracy at epsilon {eps:g} from {point.before:.1%} to {point.after:.1%} "
              f"({point.change:+.1%}); {cost}.")  # fmt: skip
    if not (math.isfinite(point.before) and math.isfinite(point.after)):
        return _finding(Severity.LOW, f"Robust accuracy at {eps:g} could not be measured",
                        detail, evidence)  # fmt: skip
    if point.after <= point.before:
        return _finding(Severity.LOW, f"Hardening did not raise robust accuracy at {eps:g}",
                        detail, evidence)  # fmt: skip
    return _finding(Severity.INFO,
                    f"Robust accuracy at {eps:g}: {point.before:.1%} -> {point.after:.1%}",
                    detail, evidence)  # fmt: skip


def _charts(rows: Sequence[ComparisonRow], norm: str) -> tuple[Chart, ...]:
    """Both accuracy-vs-epsilon curves (epsilon 0: the evaluated sample's clean accuracy)."""
    curve = [r for r in rows if r.metric == "evasion.clean_accuracy"]
    curve += [r for r in rows if r.metric.startswith(_ROBUST)]
    if not curve:
        return ()
    xs = tuple(0.0 if r.metric == "evasion.clean_accuracy" else epsilon_of(r.metric)
               for r in curve)  # fmt: skip
    return (
        Chart(
            id="before-after",
            title=f"Robust accuracy vs epsilon ({norm}), before and after hardening",
            kind="line",
            series=(Series("before", xs, tuple(r.before for r in curve)),
                    Series("after", xs, tuple(r.after for r in curve))),
            x_label="epsilon",
            y_label="accuracy",
        ),
    )  # fmt: skip
