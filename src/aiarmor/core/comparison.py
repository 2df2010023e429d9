"""Before/after comparisons of two audits, as one more section of the later report.

Every ``aiarmor harden ...`` command audits the original and the hardened model with the same
checks, data, budget and seed. Its area turns the two reports into :class:`ComparisonRow`
values, and then into a :class:`~aiarmor.core.findings.CheckResult` whose metrics are
:func:`before_after_metrics` (``before.<metric>``, ``after.<metric>``, ``change.<metric>``);
:func:`with_section` appends that result to the hardened model's report, so every renderer
(JSON, HTML, SARIF, JUnit) shows it without knowing about it. Such a section is not a
registered check: it compares two audits instead of measuring a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiarmor.core.findings import CheckResult, Finding, Severity, failing, status_of
from aiarmor.core.report import Report, Verdict


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One metric before and after hardening."""

    metric: str
    """The metric's name, e.g. ``accuracy`` or ``robust_accuracy.eps=0.1``."""
    before: float
    """The original model's value."""
    after: float
    """The hardened model's value."""

    @property
    def change(self) -> float:
        """``after - before``."""
        return self.after - self.before

    def to_dict(self) -> dict[str, Any]:
        """JSON form (NaN as None)."""
        return {k: _num(v) if isinstance(v, float) else v
                for k, v in (("metric", self.metric), ("before", self.before),
                             ("after", self.after), ("change", self.change))}  # fmt: skip


FindingMaker = Callable[[Severity, str, str, dict[str, Any]], Finding]
"""``make(severity, title, detail, evidence)``: a section's finding, its constants bound."""


def finding_maker(check_id: str, remediation: str, standards: tuple[str, ...]) -> FindingMaker:
    """The finding constructor of one before/after section: only the severity, title, detail
    and evidence differ between its findings."""

    def make(severity: Severity, title: str, detail: str, evidence: dict[str, Any]) -> Finding:
        return Finding(
            check_id=check_id,
            severity=severity,
            title=title,
            detail=detail,
            remediation=remediation,
            standards=standards,
            evidence=evidence,
        )

    return make


def report_metrics(report: Report, check_id: str) -> Mapping[str, float]:
    """The metrics of ``check_id`` in ``report`` (empty when it did not run)."""
    try:
        return report.check(check_id).metrics
    except KeyError:
        return {}


def before_after_metrics(rows: Iterable[ComparisonRow]) -> dict[str, float]:
    """``before.<metric>``, ``after.<metric>`` and ``change.<metric>`` for every row."""
    metrics: dict[str, float] = {}
    for r in rows:
        metrics |= {f"before.{r.metric}": r.before, f"after.{r.metric}": r.after,
                    f"change.{r.metric}": r.change}  # fmt: skip
    return metrics


def with_section(report: Report, section: CheckResult, extra_subject: Mapping[str, Any]) -> Report:
    """``report`` with ``section`` appended, its subject extended, its status and the verdict
    decided by the report's policy rule (:func:`~aiarmor.core.findings.status_of`)."""
    fail_on = report.fail_on
    section = replace(section, status=status_of(section.findings, fail_on))
    worst = failing(section.findings, fail_on)
    reasons = report.verdict_reasons
    verdict = report.verdict
    if worst:
        if verdict is Verdict.PASS:
            verdict = Verdict.FAIL
        reasons = (*reasons, f"{section.id}: {worst[0].title}")
    return replace(
        report,
        checks=(*report.checks, section),
        subject={**report.subject, **extra_subject},
        verdict=verdict,
        verdict_reasons=reasons,
    )


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None
