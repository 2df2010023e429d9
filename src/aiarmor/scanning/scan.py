"""The model-file scanner: walk paths, inspect every file, report the findings.

Files are identified and analysed by :mod:`aiarmor.modelfiles` (the same sniffer the loader
acts on); nothing is ever deserialized. This module adds directories (symlinks are reported,
never followed) and paths that cannot be read (errors, exit code 2). Its SARIF form is
:func:`aiarmor.reporting.sarif.scan_to_sarif`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from aiarmor.core.findings import Severity
from aiarmor.modelfiles import engine
from aiarmor.modelfiles.engine import DEFAULT_LIMITS, analyze
from aiarmor.modelfiles.formats.common import ScanContext, ScanLimits
from aiarmor.modelfiles.results import ScanReport

__all__ = ["DEFAULT_LIMITS", "ScanLimits", "scan", "scan_bytes"]


def scan(
    paths: Iterable[str | os.PathLike[str]], *, limits: ScanLimits = DEFAULT_LIMITS
) -> ScanReport:
    """Scan files and directories (recursively); missing/unreadable paths go to ``errors``."""
    ctx = ScanContext(limits)
    errors: list[str] = []
    for raw in paths:
        path = Path(raw)
        files = _walk(ctx, path) if path.is_dir() else [path]
        for file in files:
            try:
                _scan_file(ctx, file)
            except OSError as exc:
                errors.append(f"{file}: {exc.strerror or exc}")
    return _report(ctx, errors)


def _walk(ctx: ScanContext, root: Path) -> list[Path]:
    """Regular files below ``root``; symlinks are reported, never followed."""
    files = []
    base = root.resolve()
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            ctx.roots.add(str(p))
            target = p.resolve()
            inside = target == base or base in target.parents
            ctx.add(
                "scan.archive.traversal" if not inside else "scan.archive.symlink",
                Severity.HIGH if not inside else Severity.LOW,
                "Symlink in a model directory" + ("" if inside else " points outside it"),
                f"{str(p)!r} links to {str(target)!r}; a loader following it reads that file. "
                "It was not followed.",
                str(p),
                {"target": str(target)},
            )
        elif p.is_file():
            files.append(p)
    return files


def scan_bytes(data: bytes, *, path: str, limits: ScanLimits = DEFAULT_LIMITS) -> ScanReport:
    """Scan an in-memory blob named ``path``."""
    ctx = ScanContext(limits)
    analyze(ctx, data, path, 0)
    return _report(ctx, [])


def _scan_file(ctx: ScanContext, file: Path) -> None:
    """Analyze one file (mapped, never paged in)."""
    engine.inspect_file(ctx, file)


def _report(ctx: ScanContext, errors: list[str]) -> ScanReport:
    return engine.report(ctx, errors)
