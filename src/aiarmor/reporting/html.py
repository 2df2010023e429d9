"""report.html: a self-contained, single-file HTML report.

The page loads nothing: CSS is inline, charts are inline SVG made here, and a Content Security
Policy forbids scripts and every network load. All report text goes through Jinja2's
autoescaping; the only markup marked safe is the chart SVG this package generated and
sanitized itself (:func:`aiarmor.reporting.charts.render_chart_svg`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from aiarmor.core.errors import AiarmorError
from aiarmor.core.findings import Chart, CheckResult, CheckStatus, Finding, Severity
from aiarmor.core.report import SCHEMA_VERSION, Report
from aiarmor.core.standards import CATALOGUE
from aiarmor.reporting._text import clean_text, format_number
from aiarmor.reporting.charts import render_chart_svg
from aiarmor.reporting.formats import ReportFormat

TEMPLATE = "report.html.j2"
"""Template file inside ``aiarmor/reporting/templates``."""

MAX_VALUE_CHARS = 4000
"""Longer evidence/subject values are cut to this many characters in the page."""

COMPACT_JSON_CHARS = 80
"""Lists and mappings whose one-line JSON is at most this long are shown on one line."""

_SEVERITIES = tuple(s.label for s in sorted(Severity, reverse=True))
_STATUSES = tuple(s.value for s in CheckStatus)


@dataclass(frozen=True, slots=True)
class StandardView:
    """A standards reference as shown: its id, catalogue name and link (empty when unknown)."""

    ref: str
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class ValueRow:
    """One key/value row of a subject or evidence table; ``block`` values render as <pre>."""

    key: str
    value: str
    block: bool


@dataclass(frozen=True, slots=True)
class FindingView:
    """A finding prepared for the template."""

    anchor: str
    check_id: str
    check_anchor: str
    severity: str
    title: str
    detail: str
    remediation: str
    evidence: tuple[ValueRow, ...]
    standards: tuple[StandardView, ...]
    justification: str


@dataclass(frozen=True, slots=True)
class ChartView:
    """A chart as inline SVG, or the reason it could not be drawn."""

    title: str
    svg: Markup | None
    error: str


@dataclass(frozen=True, slots=True)
class CheckView:
    """A check section of the page."""

    anchor: str
    id: str
    title: str
    status: str
    reason: str
    duration: str
    metrics: tuple[tuple[str, str], ...]
    standards: tuple[StandardView, ...]
    charts: tuple[ChartView, ...]
    findings: tuple[FindingView, ...]
    suppressed: tuple[FindingView, ...]


@dataclass(frozen=True, slots=True)
class PageView:
    """Everything the template shows."""

    verdict: str
    verdict_reasons: tuple[str, ...]
    tool_name: str
    tool_version: str
    created: str
    schema_version: str
    model: str
    subject: tuple[ValueRow, ...]
    severity_counts: tuple[tuple[str, int], ...]
    status_counts: tuple[tuple[str, int], ...]
    suppressed_count: int
    risks: tuple[FindingView, ...]
    checks: tuple[CheckView, ...]
    errors: tuple[str, ...]


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document."""
    page = build_page(report)
    html = _environment().get_template(TEMPLATE).render(page=page)
    return clean_text(html)


def build_page(report: Report) -> PageView:
    """The template's view of ``report`` (plain strings and numbers, nothing to compute)."""
    checks = tuple(_check_view(c, i) for i, c in enumerate(report.checks))
    findings = [f for c in checks for f in c.findings]
    rank = {label: i for i, label in enumerate(_SEVERITIES)}
    summary = report.summary()
    return PageView(
        verdict=report.verdict.value,
        verdict_reasons=tuple(report.verdict_reasons),
        tool_name=str(report.tool.get("name", "aiarmor")),
        tool_version=str(report.tool.get("version", "")),
        created=report.created,
        schema_version=SCHEMA_VERSION,
        model=_short(str(report.subject.get("model", "")), 200),
        subject=_rows(report.to_dict()["subject"]),
        severity_counts=tuple((s, int(summary["findings"][s])) for s in _SEVERITIES),
        status_counts=tuple((s, int(summary["checks"][s])) for s in _STATUSES),
        suppressed_count=int(summary["suppressed"]),
        risks=tuple(sorted(findings, key=lambda f: rank[f.severity])),
        checks=checks,
        errors=tuple(report.errors),
    )


def _check_view(check: CheckResult, index: int) -> CheckView:
    """A check's section: metrics, standards, charts, active and suppressed findings."""
    anchor = f"check-{index}-{_slug(check.id)}"
    active = [f for f in check.findings if not f.suppressed]
    hidden = [f for f in check.findings if f.suppressed]
    return CheckView(
        anchor=anchor,
        id=check.id,
        title=check.title or check.id,
        status=check.status.value,
        reason=check.reason or "",
        duration=f"{check.duration_s:.2f} s",
        metrics=tuple((k, format_number(v)) for k, v in check.metrics.items()),
        standards=_standards(check.standards),
        charts=tuple(_chart_view(c, f"{anchor}-c{i}") for i, c in enumerate(check.charts)),
        findings=tuple(_finding_view(f, anchor, f"{anchor}-f{i}") for i, f in enumerate(active)),
        suppressed=tuple(_finding_view(f, anchor, f"{anchor}-s{i}") for i, f in enumerate(hidden)),
    )


def _finding_view(finding: Finding, check_anchor: str, anchor: str) -> FindingView:
    """A finding card, anchored so the risk table can link to it."""
    return FindingView(
        anchor=anchor,
        check_id=finding.check_id,
        check_anchor=check_anchor,
        severity=finding.severity.label,
        title=finding.title,
        detail=finding.detail,
        remediation=finding.remediation,
        evidence=_rows(finding.to_dict()["evidence"]),
        standards=_standards(finding.standards),
        justification=finding.justification or "",
    )


def _chart_view(chart: Chart, anchor: str) -> ChartView:
    """Render one chart; a chart that cannot be drawn becomes a note, not a lost report."""
    try:
        svg = render_chart_svg(chart, id_prefix=anchor)
    except (AiarmorError, ValueError, TypeError) as exc:
        return ChartView(title=chart.title, svg=None, error=_short(str(exc), 300))
    return ChartView(title=chart.title, svg=Markup(svg), error="")  # noqa: S704 - sanitized SVG we made


def _standards(refs: Iterable[str]) -> tuple[StandardView, ...]:
    """References with their catalogue name and link (unknown ones shown bare)."""
    out = []
    for ref in refs:
        entry = CATALOGUE.get(ref)
        out.append(StandardView(ref, entry.name, entry.url) if entry else StandardView(ref, "", ""))
    return tuple(out)


def _rows(values: Mapping[str, Any]) -> tuple[ValueRow, ...]:
    """Key/value rows of JSON-ready ``values``: scalars inline, lists and mappings as blocks."""
    rows = []
    for key, value in values.items():
        if isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False)
            if len(text) > COMPACT_JSON_CHARS:
                text = json.dumps(value, indent=2, ensure_ascii=False)
            rows.append(ValueRow(str(key), _short(text, MAX_VALUE_CHARS), "\n" in text))
        else:
            rows.append(ValueRow(str(key), _short(_scalar(value), MAX_VALUE_CHARS), False))
    return tuple(rows)


def _scalar(value: Any) -> str:
    """A scalar evidence/subject value as text."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return format_number(value)
    return "n/a" if value is None else str(value)


def _short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slug(text: str) -> str:
    """``text`` reduced to characters that are safe in an element id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


@functools.cache
def _environment() -> Environment:
    """The Jinja2 environment: package templates, autoescaping on, undefined is an error."""
    return Environment(
        loader=PackageLoader("aiarmor.reporting", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


FORMAT = ReportFormat("html", "report.html", render_html)
