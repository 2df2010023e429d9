"""Result types of model-file inspection (shared by every format analyzer and the scanner)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiarmor._version import __version__
from aiarmor.core.findings import Severity, _jsonable

SCAN_SCHEMA_VERSION = "1.0"
"""Version of the scan JSON contract (``scanning/scan.schema.json``); a major bump breaks it."""
FAIL_AT = Severity.LOW
"""A finding at or above this severity makes the scan exit 1; below it is an informational note."""


@dataclass(frozen=True, slots=True)
class ScanFinding:
    """One problem found in a file. The scanner reports findings, never "safe"."""

    rule: str
    """Stable rule id, e.g. ``"scan.pickle.dangerous_callable"``, ``"scan.archive.traversal"``."""
    severity: Severity
    """How bad it is (a dangerous callable is critical; an unknown one at least high)."""
    title: str
    """One-line summary."""
    detail: str
    """What was seen and why it matters (attacker-controlled strings must be escaped/quoted)."""
    path: str
    """The file; members of archives as ``outer.zip!inner/member.pkl`` (nested: repeated ``!``)."""
    remediation: str = "Do not load this file. Obtain the model from a trusted source, in a "
    "format that cannot execute code (safetensors, ONNX without custom ops)."
    """What to do about it."""
    standards: tuple[str, ...] = ("ATLAS:AML.T0010.003", "ATLAS:AML.T0011.000", "OWASP-ML:ML06")
    """Standards references (validated against the core catalogue)."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """Machine-readable evidence: callable chain, opcode offsets, stream index, ..."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "title": self.title,
            "detail": self.detail,
            "path": self.path,
            "remediation": self.remediation,
            "standards": list(self.standards),
            "evidence": _jsonable(dict(self.evidence)),
        }


@dataclass(frozen=True, slots=True)
class FileEntry:
    """Inventory of one scanned file or archive member."""

    path: str
    """As in ScanFinding.path."""
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

    findings: tuple[ScanFinding, ...]
    """Every finding, most severe first."""
    files: tuple[FileEntry, ...]
    """The inventory: every file and archive member looked at."""
    errors: tuple[str, ...] = ()
    """Paths that could not be scanned at all (missing, unreadable): exit code 2."""

    @property
    def blocking(self) -> tuple[ScanFinding, ...]:
        """The findings that set the exit code: severity at or above :data:`FAIL_AT`."""
        return tuple(f for f in self.findings if f.severity >= FAIL_AT)

    @property
    def notes(self) -> tuple[ScanFinding, ...]:
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
            "findings": [f.to_dict() for f in self.findings],
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
