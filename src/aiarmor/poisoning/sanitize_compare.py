"""The before/after section of sanitize-and-retrain, for the retrained model's report.

``aiarmor harden sanitize`` audits the original and the retrained model with the same checks,
held-out data, budget and seed. :func:`sanitize_section` turns the two reports and the
:class:`~aiarmor.poisoning.sanitize.SanitizeResult` into one more check entry,
``poisoning.sanitize``: ``before.<metric>``, ``after.<metric>`` and ``change.<metric>`` for
the clean accuracy, the attack success rate (when the trigger is known) and the samples the
detectors still flag, a chart, and a finding stating what changed.
:func:`aiarmor.core.comparison.with_section` adds it to the report.
"""

from __future__ import annotations

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
from aiarmor.poisoning.sanitize import SanitizeResult

SECTION_ID = "poisoning.sanitize"
"""Id of the before/after section in the retrained model's report."""

DETECTOR_CHECKS = ("poisoning.spectral", "poisoning.activation_clustering")
_STANDARDS = ("ATLAS:AML.T0020", "OWASP-ML:ML02", "NIST-AI-RMF:MANAGE", "NIST-AI-RMF:MEASURE-2.7")

_REMEDIATION = (
    "Review the removed or relabeled rows (the detectors' findings in before/report "
    "list them); if the attack still succeeds, the poison may be spread over classes "
    "or not separable in the representations: trace the data's provenance and check "
    "the model with poisoning.neural_cleanse."
)
_make = finding_maker(SECTION_ID, _REMEDIATION, _STANDARDS)


def comparison_rows(before: Report, after: Report, result: SanitizeResult) -> list[ComparisonRow]:
    """Clean accuracy, attack success (if known) and the detectors' suspected counts."""
    rows = [ComparisonRow("accuracy", result.before.accuracy, result.after.accuracy)]
    if result.before.attack_success is not None and result.after.attack_success is not None:
        rows.append(ComparisonRow("attack_success", result.before.attack_success,
                                  result.after.attack_success))  # fmt: skip
    for check_id in DETECTOR_CHECKS:
        b, a = report_metrics(before, check_id), report_metrics(after, check_id)
        if "n_suspected" in b and "n_suspected" in a:
            name = f"{check_id.removeprefix('poisoning.')}.n_suspected"
            rows.append(ComparisonRow(name, float(b["n_suspected"]), float(a["n_suspected"])))
    return rows


def sanitize_section(before: Report, after: Report, result: SanitizeResult) -> CheckResult:
    """The ``poisoning.sanitize`` entry: before/after metrics, chart and verdict."""
    rows = comparison_rows(before, after, result)
    metrics = before_after_metrics(rows)
    metrics["n_changed"] = float(len(result.sanitized.changed))
    finding = _finding(rows, result)
    status = status_of((finding,), after.fail_on)
    shown = [r for r in rows if r.metric in ("accuracy", "attack_success")]
    chart = Chart(
        id="before-after",
        title="Before and after sanitize-and-retrain",
        kind="bar",
        series=tuple(
            Series(stage, tuple(r.metric for r in shown), tuple(getattr(r, stage) for r in shown))
            for stage in ("before", "after")
        ),
        x_label="metric",
        y_label="rate",
    )
    return CheckResult(id=SECTION_ID, title="Sanitize and retrain: before and after",
                       status=status, metrics=metrics, findings=(finding,), charts=(chart,),
                       standards=_STANDARDS)  # fmt: skip


def _finding(rows: list[ComparisonRow], result: SanitizeResult) -> Finding:
    """INFO with the effect, LOW when nothing was flagged or the attack still succeeds."""
    by = {r.metric: r for r in rows}
    acc = by["accuracy"]
    verb = "relabeled" if result.sanitized.relabeled else "removed"
    n = len(result.sanitized.changed)
    detail = (
        f"{n} training samples flagged as poison were {verb} and the model retrained; "
        f"clean accuracy {acc.before:.4f} -> {acc.after:.4f} ({acc.change:+.4f})"
    )
    evidence: dict[str, Any] = {
        "rows": [r.to_dict() for r in rows],
        "n_changed": n,
        "relabeled": result.sanitized.relabeled,
        "poisoned_classes": list(result.detection.poisoned_classes),
    }
    asr = by.get("attack_success")
    if asr is not None:
        detail += f"; attack success {asr.before:.4f} -> {asr.after:.4f}"
    detail += "."
    if n == 0:
        return _make(Severity.LOW, "No poison was flagged; the model was retrained as it was",
                     detail, evidence)  # fmt: skip
    if asr is not None and asr.after >= max(0.5 * asr.before, 0.2):
        return _make(Severity.LOW, "The attack still succeeds after sanitizing", detail, evidence)
    title = f"Sanitizing {verb} {n} suspected samples"
    if asr is not None:
        title += f"; attack success {asr.before:.0%} -> {asr.after:.0%}"
    return _make(Severity.INFO, title, detail, evidence)
