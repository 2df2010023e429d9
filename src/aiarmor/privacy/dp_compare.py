"""The DP-vs-empirical audit loop as a report section: leakage before and after DP-SGD.

``aiarmor harden dp`` audits the original model and the DP-trained one with the same checks,
data, budget and seed. :func:`dp_section` turns the two reports into one more entry,
``privacy.dp_training``, whose metrics are ``before.<m>``, ``after.<m>`` and ``change.<m>``
for the epsilon spent (infinite before), the accuracy, and each membership attack's AUC and
TPR at 1% and 0.1% FPR, with a chart and a finding that states the trade-off.
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

SECTION_ID = "privacy.dp_training"
"""Id of the before/after section in the DP model's report."""
MEMBERSHIP = "privacy.membership"
PERFORMANCE = "baseline.performance"
_ATTACK_METRICS = ("auc", "tpr_at_1pct_fpr", "tpr_at_01pct_fpr")
_PREFIXES = ("", "rmia.", "lira_offline.", "lira_online.")
_STANDARDS = ("ATLAS:AML.T0024.000", "OWASP-ML:ML04", "NIST-AI-RMF:MANAGE")

_REMEDIATION = (
    "Pick the epsilon whose accuracy and measured leakage you accept; a smaller "
    "epsilon (more noise) lowers leakage and accuracy. Record the epsilon and delta "
    "with the model, and serve it through the gateway with rounded or label-only "
    "outputs for defence in depth."
)
_make = finding_maker(SECTION_ID, _REMEDIATION, _STANDARDS)


def dp_rows(before: Report, after: Report, epsilon: float) -> list[ComparisonRow]:
    """Epsilon, accuracy and the membership metrics present in both reports."""
    rows = [ComparisonRow("epsilon", math.inf, epsilon)]
    b, a = report_metrics(before, PERFORMANCE), report_metrics(after, PERFORMANCE)
    if "accuracy" in b and "accuracy" in a:
        rows.append(ComparisonRow("accuracy", float(b["accuracy"]), float(a["accuracy"])))
    b, a = report_metrics(before, MEMBERSHIP), report_metrics(after, MEMBERSHIP)
    names = [f"{p}{m}" for p in _PREFIXES for m in _ATTACK_METRICS]
    rows += [ComparisonRow(f"membership.{n}", float(b[n]), float(a[n]))
             for n in names if n in b and n in a]  # fmt: skip
    return rows


def dp_section(before: Report, after: Report, *, epsilon: float, delta: float) -> CheckResult:
    """The ``privacy.dp_training`` entry: before/after metrics, chart and finding."""
    rows = dp_rows(before, after, epsilon)
    finding = _finding(rows, epsilon, delta)
    return CheckResult(
        id=SECTION_ID,
        title="Differentially private training: leakage before and after",
        status=status_of((finding,), after.fail_on),
        metrics=before_after_metrics(rows),
        findings=(finding,),
        charts=(_chart(rows),),
        standards=_STANDARDS,
    )


def _strongest_auc(rows: Sequence[ComparisonRow]) -> ComparisonRow | None:
    """The membership AUC row of the attack that was strongest before DP."""
    aucs = [r for r in rows if r.metric.startswith("membership.") and r.metric.endswith("auc")]
    return max(aucs, key=lambda r: r.before) if aucs else None


def _finding(rows: Sequence[ComparisonRow], epsilon: float, delta: float) -> Finding:
    """INFO with the trade-off; LOW when the strongest attack's AUC did not drop."""
    by = {r.metric: r for r in rows}
    acc = by.get("accuracy")
    cost = f"accuracy {acc.before:.4f} -> {acc.after:.4f}" if acc else "accuracy not measured"
    auc = _strongest_auc(rows)
    evidence: dict[str, Any] = {"rows": [r.to_dict() for r in rows], "epsilon": epsilon,
                                "delta": delta}  # fmt: skip
    if auc is None:
        return _make(Severity.LOW, "Leakage after DP training could not be measured",
                     f"DP-SGD spent epsilon {epsilon:.3g} (delta {delta:.2g}); the membership "
                     f"audit did not run on both models; {cost}.", evidence)  # fmt: skip
    name = auc.metric.removeprefix("membership.")
    detail = (f"DP-SGD spent epsilon {epsilon:.3g} (delta {delta:.2g}). The strongest "
              f"membership attack's {name} went from {auc.before:.3f} to {auc.after:.3f}; "
              f"{cost}.")  # fmt: skip
    if auc.after >= auc.before:
        return _make(Severity.LOW, "DP training did not lower measured membership leakage",
                     detail, evidence)  # fmt: skip
    return _make(Severity.INFO, f"DP training lowered membership AUC to {auc.after:.3f}",
                 detail, evidence)  # fmt: skip


def _chart(rows: Sequence[ComparisonRow]) -> Chart:
    """Before/after bars of accuracy and the membership metrics (epsilon has no bar)."""
    shown = [r for r in rows if r.metric != "epsilon"]
    labels = tuple(r.metric.removeprefix("membership.") for r in shown)
    return Chart(
        id="before-after",
        title="Before and after DP training",
        kind="bar",
        series=(Series("before", labels, tuple(r.before for r in shown)),
                Series("after", labels, tuple(r.after for r in shown))),
        x_label="metric",
        y_label="value",
    )  # fmt: skip
