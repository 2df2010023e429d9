"""Shared plumbing of the format analyzers: limits, the scan context, finding helpers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiarmor.core.findings import Finding, Severity
from aiarmor.modelfiles.results import DEFAULT_STANDARDS, FileEntry, scan_finding

HASH_LIMIT = 256 * 1024**2
"""Files larger than this are not hashed (large checkpoints scan without a full read)."""
DOS_STANDARDS = ("ATLAS:AML.T0029", "OWASP-ML:ML06")
"""Standards for resource-exhaustion findings (bombs, deep nesting)."""


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """Resource limits of one scan; exceeding one is a ``scan.archive.limit`` finding."""

    max_total_bytes: int = 4 * 1024**3
    """Most uncompressed bytes read from all archives together."""
    max_member_bytes: int = 1024**3
    """Most bytes read from one archive member or decompressed stream."""
    max_ratio: float = 200.0
    """Highest accepted uncompressed/compressed size ratio."""
    max_depth: int = 5
    """Deepest accepted archive nesting."""
    max_members: int = 10_000
    """Most members read from one archive."""


@dataclass(slots=True)
class ScanContext:
    """Mutable accumulator of one scan (internal; the result is a frozen ScanReport)."""

    limits: ScanLimits
    """The limits in force."""
    findings: list[Finding] = field(default_factory=list)
    """Findings so far."""
    files: list[FileEntry] = field(default_factory=list)
    """Inventory so far."""
    total_bytes: int = 0
    """Uncompressed archive bytes read so far."""
    dispatched: list[tuple[str, str]] = field(default_factory=list)
    """``(path, analyser name)`` for every blob handed to an analyser, in order."""
    roots: set[str] = field(default_factory=set)
    """The scanned files (and symlinks) themselves, to locate members of their findings."""

    def add(
        self,
        rule: str,
        severity: Severity,
        title: str,
        detail: str,
        path: str,
        evidence: Mapping[str, Any] | None = None,
        standards: tuple[str, ...] | None = None,
    ) -> None:
        """Record one finding."""
        refs = DEFAULT_STANDARDS if standards is None else standards
        self.findings.append(
            scan_finding(rule, severity, title, detail, path, standards=refs, evidence=evidence)
        )

    def entry(self, path: str, fmt: str, data: bytes, details: Mapping[str, Any]) -> None:
        """Add an inventory entry for ``data`` (hashed unless larger than HASH_LIMIT)."""
        digest = hashlib.sha256(data).hexdigest() if len(data) <= HASH_LIMIT else None
        self.files.append(FileEntry(path, fmt, len(data), digest, dict(details)))

    def limit(self, path: str, what: str, evidence: Mapping[str, Any]) -> None:
        """Record a ``scan.archive.limit`` finding (fail closed: the rest is not scanned)."""
        self.add(
            "scan.archive.limit",
            Severity.MEDIUM,
            f"Scan limit exceeded: {what}",
            f"{what}; the remaining content was not scanned (possible archive bomb).",
            path,
            evidence,
            DOS_STANDARDS,
        )


Recurse = Callable[[ScanContext, bytes, str, int], None]
"""Callback that analyzes nested bytes: ``(ctx, data, path, depth)``."""


def safe_name(name: str) -> str:
    """Quote an attacker-controlled name for a message (repr escapes control characters)."""
    return repr(name[:200])


def printable_text(raw: bytes) -> bool:
    """True when ``raw`` is UTF-8 of printable characters and line breaks/tabs only."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


_PICKLE_EXTS = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dat", ".data"}
_NON_PICKLE_EXTS = {".json", ".txt", ".safetensors", ".npy", ".onnx", ".gguf", ".h5", ".csv"}


def check_extension(ctx: ScanContext, path: str, fmt: str) -> None:
    """A disguising extension (pickle named .json/.safetensors/...) is a low finding."""
    leaf = path.rsplit("!", 1)[-1]
    ext = os.path.splitext(leaf)[1].lower()
    if fmt == "pickle" and ext in _NON_PICKLE_EXTS:
        ctx.add(
            "scan.format.mismatch",
            Severity.LOW,
            "File extension disguises a pickle",
            f"The name ends in {ext!r} but the content is a pickle (executes code when loaded).",
            path,
            {"extension": ext, "format": fmt},
        )
    elif fmt != "pickle" and ext in _PICKLE_EXTS - {".bin", ".dat", ".data"}:
        ctx.add(
            "scan.format.mismatch",
            Severity.INFO,
            "File extension disagrees with the content",
            f"The name ends in {ext!r} but the content is {fmt}.",
            path,
            {"extension": ext, "format": fmt},
            DOS_STANDARDS[1:],
        )
