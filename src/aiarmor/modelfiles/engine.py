"""Inspect model-file bytes: sniff, dispatch to the format's analyser, recurse with limits.

Nothing is ever deserialized. :func:`analyze` is the recursion callback every container
analyser calls for its members, so nested data is identified by the same sniffer as a file.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import cast

from aiarmor.core.findings import Finding
from aiarmor.modelfiles.formats.common import ScanContext, ScanLimits
from aiarmor.modelfiles.results import ScanReport, anchor, scan_path
from aiarmor.modelfiles.sniff import sniff

DEFAULT_LIMITS = ScanLimits()
"""The limits used when none are given."""


def analyze(ctx: ScanContext, data: bytes, path: str, depth: int) -> None:
    """Identify ``data`` with the one sniffer and hand it to that format's analyser."""
    if depth > ctx.limits.max_depth:
        ctx.limit(path, f"nesting deeper than {ctx.limits.max_depth}", {"depth": depth})
        return
    if depth == 0:
        ctx.roots.add(path)
    analyser = sniff(data)
    ctx.dispatched.append((path, analyser.name))
    analyser.analyse(ctx, data, path, depth, analyze)


def inspect_file(ctx: ScanContext, file: Path) -> None:
    """Map the file (so tensor data is never paged in) and analyze it (OSError propagates)."""
    with file.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            ctx.entry(str(file), "empty", b"", {})
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            analyze(ctx, cast(bytes, mapped), str(file), 0)


def report(ctx: ScanContext, errors: list[str]) -> ScanReport:
    """The frozen report of ``ctx``: findings most severe first, then by path and rule."""
    anchored = [_anchored(f, ctx.roots) for f in ctx.findings]
    findings = sorted(anchored, key=lambda f: (-f.severity, scan_path(f), f.check_id))
    return ScanReport(tuple(findings), tuple(ctx.files), tuple(errors))


def _anchored(finding: Finding, roots: set[str]) -> Finding:
    """``finding`` located after the longest scanned file its path starts with (a file name
    may itself contain ``!``, the member separator)."""
    path = scan_path(finding)
    cuts = [i for i, c in enumerate(path) if c == "!"]
    for end in (len(path), *reversed(cuts)):
        if path[:end] in roots:
            return anchor(finding, path[:end])
    return finding


def inspect(file: Path, *, limits: ScanLimits = DEFAULT_LIMITS) -> ScanReport:
    """The report for one file; an unreadable file is an error of the report."""
    ctx = ScanContext(limits)
    try:
        inspect_file(ctx, file)
    except OSError as exc:
        return report(ctx, [f"{file}: {exc.strerror or exc}"])
    return report(ctx, [])
