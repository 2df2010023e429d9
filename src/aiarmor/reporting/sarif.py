"""report.sarif: SARIF 2.1.0 for code-scanning views (GitHub, Azure DevOps, IDEs).

One run; one rule per check; one result per finding. Suppressed findings stay in the log as
results carrying an external suppression with the policy's justification, so a viewer can show
that they were reviewed. Every result points at the audited model artifact.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from aiarmor.core.findings import CheckResult, CheckStatus, Finding, Severity
from aiarmor.core.registry import registered
from aiarmor.core.report import Report, Verdict
from aiarmor.core.standards import CATALOGUE
from aiarmor.reporting._text import clean_text
from aiarmor.reporting.formats import ReportFormat

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://pypi.org/project/aiarmor/"
"""Where the tool is described (overridable with ``report.tool["information_uri"]``)."""

FINGERPRINT_KEY = "aiarmorFinding/v1"
"""Name of the partial fingerprint: a stable hash of check id and finding title."""

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
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def security_severity(severity: Severity) -> str:
    """GitHub's numeric ``security-severity`` (a string, 0.0-10.0) for a severity."""
    return _SECURITY_SEVERITY[severity]


def _driver(report: Report) -> dict[str, Any]:
    """The tool.driver object: name, version, information URI and the rules."""
    version = report.tool.get("version", "")
    driver: dict[str, Any] = {
        "name": report.tool.get("name", "aiarmor"),
        "informationUri": report.tool.get("information_uri", INFORMATION_URI),
        "rules": [_rule(c) for c in report.checks],
    }
    if version:
        driver["version"] = version
        driver["semanticVersion"] = version
    return driver


def _rule(check: CheckResult) -> dict[str, Any]:
    """One reportingDescriptor per check."""
    rule: dict[str, Any] = {
        "id": check.id,
        "name": _pascal(check.id),
        "shortDescription": {"text": clean_text(check.title or check.id)},
        "fullDescription": {"text": clean_text(_description(check))},
        "properties": {"tags": ["security", *check.standards]},
    }
    refs = [CATALOGUE[r] for r in check.standards if r in CATALOGUE]
    if refs:
        rule["helpUri"] = refs[0].url
        rule["help"] = {
            "text": "\n".join(f"{r.ref}: {r.name} ({r.url})" for r in refs),
            "markdown": "\n".join(f"- [{r.ref}]({r.url}): {r.name}" for r in refs),
        }
    if check.findings:
        worst = max(f.severity for f in check.findings)
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
    text = f"{finding.title}: {finding.detail}" if finding.detail else finding.title
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "level": _LEVELS[finding.severity],
        "message": {"text": clean_text(text)},
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


def fingerprint(finding: Finding) -> str:
    """A stable hash of check id and title, so a viewer can track a finding across runs."""
    digest = hashlib.sha256(f"{finding.check_id}\x00{finding.title}".encode())
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
    return {
        "executionSuccessful": not errored and report.verdict is not Verdict.INCOMPLETE,
        "toolExecutionNotifications": [
            {"level": "error", "message": {"text": clean_text(m)}} for m in dict.fromkeys(messages)
        ],
    }


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
    return quote(posix.as_posix(), safe="/")


def _pascal(check_id: str) -> str:
    """``robustness.evasion`` -> ``RobustnessEvasion`` (SARIF's human rule name)."""
    parts = re.split(r"[^A-Za-z0-9]+", check_id)
    return "".join(p[:1].upper() + p[1:] for p in parts if p) or "Check"


def _sarif_text(report: Report) -> str:
    """The SARIF log as indented JSON text."""
    return json.dumps(report_to_sarif(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


FORMAT = ReportFormat("sarif", "report.sarif", _sarif_text)
