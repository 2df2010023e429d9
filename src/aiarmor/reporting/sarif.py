"""SARIF 2.1.0 for code-scanning views (GitHub, Azure DevOps, IDEs): ``report.sarif`` of an
audit and ``aiarmor scan --format sarif``.

Both follow one set of conventions: one run; one rule per check (audit) or scanner rule id
(scan); one result per finding, with the same level mapping, ``security-severity``, rule
descriptors (standards as tags and help) and partial fingerprints. A file is a
``physicalLocation`` whose artifact URI is relative and percent-escaped for a relative path and
a ``file://`` URI for an absolute one; a member of an archive is a ``logicalLocation`` (kind
``resource``, fully qualified ``outer.zip!member``) beside its outer file, and a byte offset in
the file itself is a region. Suppressed findings stay in the log as results carrying an
external suppression with the policy's justification, so a viewer can show that they were
reviewed. An audit's results point at the audited model artifact.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from aiarmor._version import __version__
from aiarmor.core.findings import CheckResult, CheckStatus, Finding, Location, Severity
from aiarmor.core.registry import registered
from aiarmor.core.report import Report, Verdict
from aiarmor.core.standards import CATALOGUE
from aiarmor.modelfiles.results import ScanReport
from aiarmor.reporting._text import clean_text
from aiarmor.reporting.formats import ReportFormat
from aiarmor.reporting.scan_formats import ScanFormat

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://pypi.org/project/aiarmor/"
"""Where the tool is described (overridable with ``report.tool["information_uri"]``)."""

FINGERPRINT_KEY = "aiarmorFinding/v1"
"""Name of the partial fingerprint: a stable hash of check id, finding title and location."""
SCAN_TOOL_NAME = "aiarmor-scan"
"""The scan's driver name: its own analysis in a code-scanning view, beside the audit's."""

_LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
_PY_FILE_SPEC = re.compile(r"^(?P<path>.+\.py):(?P<obj>[A-Za-z_][\w.]*)$")
_MODULE_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def report_to_sarif(report: Report) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (a JSON-ready dict)."""
    rule_index = {c.id: i for i, c in enumerate(report.checks)}
    locations = _locations(report.subject)
    run: dict[str, Any] = {
        "tool": {"driver": _driver(report)},
        "invocations": [_invocation(report)],
        "results": [_result(f, rule_index, locations) for f in report.findings],
        "properties": {"verdict": report.verdict.value},
    }
    return _log(run)


def scan_to_sarif(report: ScanReport) -> dict[str, Any]:
    """A scan as a SARIF 2.1.0 log: each result at its file (and archive member)."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in report.findings:  # most severe first, so a rule's first is its worst
        by_rule.setdefault(finding.check_id, []).append(finding)
    rule_ids = sorted(by_rule)
    rule_index = {r: i for i, r in enumerate(rule_ids)}
    rules = [_scan_rule(r, by_rule[r]) for r in rule_ids]
    run: dict[str, Any] = {
        "tool": {"driver": _tool(SCAN_TOOL_NAME, __version__, INFORMATION_URI, rules)},
        "invocations": [_run_outcome(list(report.errors), not report.errors)],
        "results": [_result(f, rule_index, _file_locations(f)) for f in report.findings],
        "properties": {"result": report.result},
    }
    return _log(run)


def _log(run: dict[str, Any]) -> dict[str, Any]:
    """The SARIF log of one run."""
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def security_severity(severity: Severity) -> str:
    """GitHub's numeric ``security-severity`` (a string, 0.0-10.0) for a severity."""
    return _SECURITY_SEVERITY[severity]


def _driver(report: Report) -> dict[str, Any]:
    """The tool.driver object of an audit: the report's tool and one rule per check."""
    return _tool(
        report.tool.get("name", "aiarmor"),
        report.tool.get("version", ""),
        report.tool.get("information_uri", INFORMATION_URI),
        [_rule(c) for c in report.checks],
    )


def _tool(name: str, version: str, uri: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A tool.driver object: name, version, information URI and the rules."""
    driver: dict[str, Any] = {"name": name, "informationUri": uri, "rules": rules}
    if version:
        driver["version"] = version
        driver["semanticVersion"] = version
    return driver


def _rule(check: CheckResult) -> dict[str, Any]:
    """One reportingDescriptor per check."""
    title = check.title or check.id
    return _descriptor(check.id, title, _description(check), check.standards, check.findings)


def _scan_rule(rule_id: str, findings: list[Finding]) -> dict[str, Any]:
    """One reportingDescriptor per scanner rule, described by its worst finding."""
    standards = tuple(dict.fromkeys(s for f in findings for s in f.standards))
    title = findings[0].title
    return _descriptor(rule_id, title, title, standards, findings)


def _descriptor(
    rule_id: str,
    title: str,
    description: str,
    standards: tuple[str, ...],
    findings: tuple[Finding, ...] | list[Finding],
) -> dict[str, Any]:
    """A reportingDescriptor: names, standards as tags and help, the worst finding's level."""
    rule: dict[str, Any] = {
        "id": rule_id,
        "name": _pascal(rule_id),
        "shortDescription": {"text": clean_text(title)},
        "fullDescription": {"text": clean_text(description)},
        "properties": {"tags": ["security", *standards]},
    }
    refs = [CATALOGUE[r] for r in standards if r in CATALOGUE]
    if refs:
        rule["helpUri"] = refs[0].url
        rule["help"] = {
            "text": "\n".join(f"{r.ref}: {r.name} ({r.url})" for r in refs),
            "markdown": "\n".join(f"- [{r.ref}]({r.url}): {r.name}" for r in refs),
        }
    if findings:
        worst = max(f.severity for f in findings)
        rule["defaultConfiguration"] = {"level": _LEVELS[worst]}
        rule["properties"]["security-severity"] = security_severity(worst)
    return rule


def _description(check: CheckResult) -> str:
    """The registered check's summary when it is known here, else its title."""
    cls = registered().get(check.id)
    summary = getattr(cls, "summary", "") if cls is not None else ""
    return str(summary) or check.title or check.id


def _result(
    finding: Finding, rule_index: Mapping[str, int], locations: list[dict[str, Any]]
) -> dict[str, Any]:
    """One SARIF result per finding (suppressed ones carry an external suppression)."""
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "level": _LEVELS[finding.severity],
        "message": {"text": clean_text(_message(finding))},
        "locations": locations,
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding)},
        "properties": {
            "severity": finding.severity.label,
            "standards": list(finding.standards),
            "security-severity": security_severity(finding.severity),
            "remediation": clean_text(finding.remediation),
        },
    }
    if finding.check_id in rule_index:
        result["ruleIndex"] = rule_index[finding.check_id]
    if finding.suppressed:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": clean_text(finding.justification or ""),
            }
        ]
    return result


def _message(finding: Finding) -> str:
    """``title: detail``, naming the archive member when there is one."""
    text = f"{finding.title}: {finding.detail}" if finding.detail else finding.title
    where = finding.location
    return f"{text} [{where.display}]" if where is not None and where.member else text


def fingerprint(finding: Finding) -> str:
    """A stable hash of check id, title and (when it has one) location, so a viewer can track
    a finding across runs."""
    key = f"{finding.check_id}\x00{finding.title}"
    if finding.location is not None:
        key += f"\x00{finding.location.display}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:32]


def _invocation(report: Report) -> dict[str, Any]:
    """Whether the run succeeded, with one notification per errored check or other run error.

    ``report.errors`` repeats each errored check as ``"<id>: <reason>"``; those are told once,
    by the check's own notification.
    """
    errored = [c for c in report.checks if c.status is CheckStatus.ERROR]
    told = {f"{c.id}: {c.reason}" for c in errored}
    messages = [f"check {c.id} errored: {c.reason or 'no reason given'}" for c in errored]
    messages += [e for e in report.errors if e not in told]
    return _run_outcome(messages, not errored and report.verdict is not Verdict.INCOMPLETE)


def _run_outcome(messages: list[str], successful: bool) -> dict[str, Any]:
    """An invocation: whether the run succeeded, one error notification per message."""
    return {
        "executionSuccessful": successful,
        "toolExecutionNotifications": [
            {"level": "error", "message": {"text": clean_text(m)}} for m in dict.fromkeys(messages)
        ],
    }


def _file_locations(finding: Finding) -> list[dict[str, Any]]:
    """Where a scan finding points: its file, with the archive member as a logical location."""
    where = finding.location or Location("unknown")
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(where.path)}}
    location: dict[str, Any] = {"physicalLocation": physical}
    if where.member is None:
        if where.offset is not None:
            physical["region"] = {"byteOffset": where.offset}
        return [location]
    member = {
        "name": clean_text(where.member.rpartition("!")[2]),
        "fullyQualifiedName": clean_text(where.display),
        "kind": "resource",
    }
    location["logicalLocations"] = [member]
    if where.offset is not None:
        location["properties"] = {"memberByteOffset": where.offset}
    return [location]


def _locations(subject: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Where every result points: the model artifact (else the data, else the model name)."""
    for key in ("model", "data"):
        spec = subject.get(key)
        if isinstance(spec, str) and spec.strip():
            return [_location(clean_text(spec.strip()))]
    return [{"logicalLocations": [{"name": "model", "kind": "module"}]}]


def _location(spec: str) -> dict[str, Any]:
    """A physical location for a file path, a logical one for a module spec or a URL."""
    if spec.lower().startswith(("http://", "https://")):
        return {
            "logicalLocations": [{"name": spec, "fullyQualifiedName": spec, "kind": "resource"}]
        }
    match = _PY_FILE_SPEC.match(spec)
    if match:
        return {
            "physicalLocation": {"artifactLocation": {"uri": _uri(match["path"])}},
            "logicalLocations": [
                {"name": match["obj"], "fullyQualifiedName": spec, "kind": "function"}
            ],
        }
    if _MODULE_SPEC.match(spec):
        name = spec.rpartition(":")[2]
        return {
            "logicalLocations": [{"name": name, "fullyQualifiedName": spec, "kind": "function"}]
        }
    if _looks_like_path(spec):
        return {"physicalLocation": {"artifactLocation": {"uri": _uri(spec)}}}
    return {"logicalLocations": [{"name": spec, "kind": "module"}]}


def _looks_like_path(spec: str) -> bool:
    """Whether a model spec names a file (a separator or a file suffix)."""
    return "/" in spec or "\\" in spec or bool(PurePosixPath(spec).suffix)


def _uri(path: str) -> str:
    """A URI reference for a path: ``file://`` when absolute, else relative and escaped."""
    windows = PureWindowsPath(path)
    if windows.drive and windows.is_absolute():
        return windows.as_uri()
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        return posix.as_uri()
    return quote(posix.as_posix(), safe="/", errors="surrogateescape")


def _pascal(check_id: str) -> str:
    """``robustness.evasion`` -> ``RobustnessEvasion`` (SARIF's human rule name)."""
    parts = re.split(r"[^A-Za-z0-9]+", check_id)
    return "".join(p[:1].upper() + p[1:] for p in parts if p) or "Check"


def _sarif_text(report: Report) -> str:
    """The SARIF log as indented JSON text."""
    return json.dumps(report_to_sarif(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _scan_sarif_text(report: ScanReport) -> str:
    """A scan's SARIF log as indented, ASCII-only JSON text (safe on any terminal)."""
    return json.dumps(scan_to_sarif(report), indent=2) + "\n"


FORMAT = ReportFormat("sarif", "report.sarif", _sarif_text)
SCAN_FORMAT = ScanFormat("sarif", _scan_sarif_text)
