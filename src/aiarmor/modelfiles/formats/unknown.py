"""Anything no other analyser recognises: plain text, or an informational note."""

from __future__ import annotations

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.formats.common import ScanContext, printable_text
from aiarmor.modelfiles.registry import FormatAnalyser, leaf


def scan_unknown(ctx: ScanContext, data: bytes, path: str) -> None:
    """Plain text gets no finding; unknown binary is an info note."""
    head = bytes(data[:512])
    is_text = b"\x00" not in head and printable_text(head)
    ctx.entry(path, "text" if is_text else "unknown", data, {})
    if not is_text:
        ctx.add(
            "scan.format.unknown",
            Severity.INFO,
            "Unrecognized binary data",
            "The content matches no known model format; it was not analyzed further.",
            path,
        )


ANALYSER = FormatAnalyser("unknown", lambda _head, _data: True, leaf(scan_unknown))
