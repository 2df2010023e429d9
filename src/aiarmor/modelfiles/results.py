"""Result types of model-file inspection (shared by every format analyzer and the scanner).

A scan finding is a core :class:`~aiarmor.core.findings.Finding` with a
:class:`~aiarmor.core.findings.Location`, made by :func:`scan_finding`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiarmor._version import __version__
from aiarmor.core.findings import Finding, Location, Severity, _jsonable

SCAN_SCHEMA_VERSION = "1.0"
"""Version of the scan JSON contract (``scanning/scan.schema.json``); a major bump breaks it."""
FAIL_AT = Severity.LOW
"""A finding at or above this severity makes the scan exit 1; below it is an informational note."""


DEFAULT_REMEDIATION = (
    "Do not load this file. Obtain the model from a trusted source, in a format that cannot "
    "execute code (safetensors, ONNX without custom ops)."
)
"""What to do about a scan finding, unless its analyser says otherwise."""
DEFAULT_STANDARDS = ("ATLAS:AML.T0010.003", "ATLAS:AML.T0011.000", "OWASP-ML:ML06")
"""Standards references of a scan finding, unless its analyser says otherwise."""


def scan_finding(
    rule: str,
    severity: Severity,
    title: str,
    detail: str,
    path: str | Location,
    *,
    remediation: str = DEFAULT_REMEDIATION,
    standards: tuple[str, ...] = DEFAULT_STANDARDS,
    evidence: Mapping[str, Any] | None = None,
) -> Finding:
    """A scan finding: a core :class:`Finding` whose ``check_id`` is the rule id (e.g.
    ``"scan.archive.traversal"``) and whose location is ``path`` (``outer.zip!member`` form
    accepted, split at the first ``!``; :func:`anchor` corrects it for a file named with one).

    The scanner reports findings, never "safe"; attacker-controlled strings in ``detail`` must
    already be escaped or quoted.
    """
    where = path if isinstance(path, Location) else locate(path)
    ev = dict(evidence or {})
    return Finding(rule, severity, title, detail, remediation, standards, ev, location=where)


def locate(path: str, root: str | None = None) -> Location:
    """The Location of a scanner path ``file`` or ``file!member`` (nested: more ``!``).

    ``root`` is the scanned file when known (its own name may contain ``!``); otherwise the
    path is split at its first ``!``.
    """
    if root is not None and (path == root or path.startswith(root + "!")):
        member = path[len(root) + 1 :] if path != root else None
        return Location(root, member)
    file, sep, member = path.partition("!")
    return Location(file, member if sep else None)


def anchor(finding: Finding, root: str) -> Finding:
    """``finding`` with its location split after ``root`` (the file that was scanned)."""
    where = finding.location
    if where is None or not where.display.startswith(root):
        return finding
    fixed = locate(where.display, root)
    return replace(finding, location=replace(fixed, offset=where.offset))


def scan_path(finding: Finding) -> str:
    """The scanner's one-string path of ``finding`` (``outer.zip!member``); "" without one."""
    return finding.location.display if finding.location is not None else ""


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """The scan JSON form of a finding (``scan.schema.json``: ``rule``, ``path``, ...)."""
    return {
        "rule": finding.check_id,
        "severity": finding.severity.label,
        "title": finding.title,
        "detail": finding.detail,
        "path": scan_path(finding),
        "remediation": finding.remediation,
        "standards": list(finding.standards),
        "evidence": _jsonable(dict(finding.evidence)),
    }


@dataclass(frozen=True, slots=True)
class FileEntry:
    """Inventory of one scanned file or archive member."""

    path: str
    """As a finding's scan path: members of archives as ``outer.zip!inner/member.pkl``."""
    format: str
    """Identified by content: ``pickle``, ``pytorch-zip``, ``safetensors``, ``zip``, ..."""
    size: int
    """Size in bytes."""
    sha256: str | None
    """Hex SHA-256 of the bytes (None when not computed, e.g. a member over the read limit)."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Format-specific facts: tensor count, pickle streams, imported callables, members, ..."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "path": self.path,
            "format": self.format,
            "size": self.size,
            "sha256": self.sha256,
            "details": _jsonable(dict(self.details)),
        }


@dataclass(frozen=True, slots=True)
class ScanReport:
    """The result of scanning one or more paths."""

    findings: tuple[Finding, ...]
    """Every finding (each with a location), most severe first."""
    files: tuple[FileEntry, ...]
    """The inventory: every file and archive member looked at."""
    errors: tuple[str, ...] = ()
    """Paths that could not be scanned at all (missing, unreadable): exit code 2."""

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The findings that set the exit code: severity at or above :data:`FAIL_AT`."""
        return tuple(f for f in self.findings if f.severity >= FAIL_AT)

    @property
    def notes(self) -> tuple[Finding, ...]:
        """Informational notes (below :data:`FAIL_AT`): they never fail a scan."""
        return tuple(f for f in self.findings if f.severity < FAIL_AT)

    @property
    def exit_code(self) -> int:
        """2 could not scan something, 1 a finding at or above :data:`FAIL_AT`, else 0."""
        if self.errors:
            return 2
        return 1 if self.blocking else 0

    @property
    def result(self) -> str:
        """``error`` (exit 2), ``findings`` (exit 1), ``no findings`` (exit 0; notes may exist)."""
        return {2: "error", 1: "findings", 0: "no findings"}[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``aiarmor scan --format json``; schema ``scanning/scan.schema.json``)."""
        return {
            "schema_version": SCAN_SCHEMA_VERSION,
            "tool": {"name": "aiarmor", "version": __version__},
            "findings": [finding_to_dict(f) for f in self.findings],
            "files": [f.to_dict() for f in self.files],
            "errors": list(self.errors),
            "summary": {
                "files": len(self.files),
                "findings": {
                    s.label: sum(f.severity is s for f in self.findings) for s in Severity
                },
                "fail_on": FAIL_AT.label,
                "result": self.result,
                "exit_code": self.exit_code,
            },
        }
