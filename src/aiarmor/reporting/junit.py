"""report.junit.xml: one test case per check, for CI test views.

A failed check becomes a ``<failure>`` (type = its worst severity) listing its findings, an
errored one an ``<error>``, a skipped one ``<skipped>``; metrics are ``<properties>``. Text from
findings is attacker-influenced (file names, strings found in a model), so characters XML 1.0
cannot carry are removed and ElementTree escapes the rest.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from aiarmor.core.findings import CheckResult, CheckStatus, Finding, _jsonable
from aiarmor.core.report import Report
from aiarmor.reporting._text import clean_text, finding_line, format_number
from aiarmor.reporting.formats import ReportFormat

SUITE_NAME = "aiarmor"


def report_to_junit(report: Report) -> str:
    """The report as JUnit XML text (``<testsuites>`` holding one ``<testsuite>``)."""
    suite = _suite(report)
    root = ET.Element("testsuites", _counts(report))
    root.set("name", SUITE_NAME)
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _counts(report: Report) -> dict[str, str]:
    """The tests/failures/errors/skipped/time attributes shared by suite and root."""
    statuses = [c.status for c in report.checks]
    total = report.timings.get("total", sum(c.duration_s for c in report.checks))
    return {
        "tests": str(len(statuses)),
        "failures": str(statuses.count(CheckStatus.FAILED)),
        "errors": str(statuses.count(CheckStatus.ERROR)),
        "skipped": str(statuses.count(CheckStatus.SKIPPED)),
        "time": _seconds(total),
    }


def _suite(report: Report) -> ET.Element:
    """The ``<testsuite>``: counts, run properties, one test case per check, run errors."""
    suite = ET.Element("testsuite", {"name": SUITE_NAME, **_counts(report)})
    if report.created:
        suite.set("timestamp", clean_text(report.created))
    props = {
        "verdict": report.verdict.value,
        "tool.version": report.tool.get("version", ""),
        **{f"subject.{k}": _property_value(v) for k, v in report.subject.items()},
    }
    suite.append(_properties(props))
    for check in report.checks:
        suite.append(_testcase(check))
    if report.errors:
        ET.SubElement(suite, "system-err").text = clean_text("\n".join(report.errors))
    return suite


def _testcase(check: CheckResult) -> ET.Element:
    """One ``<testcase>`` for a check; findings not in a failure go to system-out."""
    area = check.id.partition(".")[0] or check.id
    case = ET.Element(
        "testcase",
        {
            "classname": clean_text(f"{SUITE_NAME}.{area}"),
            "name": clean_text(check.id),
            "time": _seconds(check.duration_s),
        },
    )
    if check.metrics:
        case.append(_properties({k: format_number(v) for k, v in check.metrics.items()}))
    extra = list(check.findings)
    if check.status is CheckStatus.FAILED:
        case.append(_failure([f for f in check.findings if not f.suppressed]))
        extra = [f for f in check.findings if f.suppressed]
    elif check.status is CheckStatus.ERROR:
        case.append(_element("error", check.reason or "the check could not finish", "error"))
    elif check.status is CheckStatus.SKIPPED:
        case.append(_element("skipped", check.reason or "skipped", None))
    if extra:
        ET.SubElement(case, "system-out").text = clean_text(_findings_text(extra))
    return case


def _failure(findings: list[Finding]) -> ET.Element:
    """``<failure>`` typed by the worst severity, its text one block per finding."""
    if not findings:
        return _element("failure", "the check failed", "failure")
    worst = max(f.severity for f in findings)
    noun = "finding" if len(findings) == 1 else "findings"
    message = f"{len(findings)} {noun}, worst {worst.label}: {findings[0].title}"
    failure = _element("failure", message, worst.label)
    failure.text = clean_text(_findings_text(findings))
    return failure


def _findings_text(findings: list[Finding]) -> str:
    """Findings as plain text, most severe first, one block each."""
    blocks = []
    for f in sorted(findings, key=lambda f: -int(f.severity)):
        lines = [finding_line(f)]
        if f.remediation:
            lines.append(f"  remediation: {f.remediation}")
        if f.standards:
            lines.append(f"  standards: {', '.join(f.standards)}")
        if f.suppressed:
            lines.append(f"  suppressed: {f.justification or 'no justification given'}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _element(tag: str, message: str, kind: str | None) -> ET.Element:
    """An element with a cleaned ``message`` and an optional ``type``."""
    element = ET.Element(tag, {"message": clean_text(message)})
    if kind is not None:
        element.set("type", kind)
    return element


def _properties(values: Mapping[str, str]) -> ET.Element:
    """A ``<properties>`` element of name/value pairs."""
    props = ET.Element("properties")
    for name, value in values.items():
        ET.SubElement(props, "property", {"name": clean_text(name), "value": clean_text(value)})
    return props


def _property_value(value: object) -> str:
    """A subject value as property text: strings as they are, anything else as JSON (never
    Python's repr, which CI views would show as ``['labels', 'scores']`` or ``None``)."""
    if isinstance(value, str):
        return value
    return json.dumps(_jsonable(value), ensure_ascii=False, allow_nan=False)


def _seconds(value: float) -> str:
    """Seconds as JUnit's ``time`` attribute (three decimals, never negative or NaN)."""
    return f"{max(value, 0.0):.3f}" if math.isfinite(value) else "0.000"


FORMAT = ReportFormat("junit", "report.junit.xml", report_to_junit)
