"""Small text helpers shared by the renderers: safe characters and number formatting."""

from __future__ import annotations

import math
import re

from aiarmor.core.findings import Finding

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 forbids (C0 controls except tab/LF/CR, lone surrogates, U+FFFE/F)."""


def clean_text(text: str) -> str:
    """``text`` without characters that XML 1.0 (and so HTML/SARIF viewers) cannot carry."""
    return _XML_ILLEGAL.sub("", text)


def format_number(value: float | int | None) -> str:
    """A short human form of a metric: 4 significant digits, ``n/a`` for NaN/inf/None."""
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def finding_line(finding: Finding) -> str:
    """One line per finding for plain-text renderers: ``[HIGH] title: detail``."""
    text = f"[{finding.severity.label.upper()}] {finding.title}"
    return f"{text}: {finding.detail}" if finding.detail else text
