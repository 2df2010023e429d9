"""The report-format registry: each format is a name, a file name and a renderer.

Adding a report format: write its renderer module with a :class:`ReportFormat` and add one
line for it to :data:`REGISTERED`. The writer and ``--format`` options read this registry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from aiarmor.core.plugins import load_entries
from aiarmor.core.report import Report


@dataclass(frozen=True, slots=True)
class ReportFormat:
    """One output format of an audit report."""

    name: str
    """What ``--format`` calls it, e.g. ``"json"``."""
    file_name: str
    """The file written into the report directory, e.g. ``"report.json"``."""
    render: Callable[[Report], str]
    """The report as the file's text."""


REGISTERED: tuple[str, ...] = (
    "aiarmor.reporting.jsonreport:FORMAT",
    "aiarmor.reporting.html:FORMAT",
    "aiarmor.reporting.sarif:FORMAT",
    "aiarmor.reporting.junit:FORMAT",
)
"""``module:ATTRIBUTE`` of every report format, in the order they are written."""


@functools.cache
def report_formats() -> dict[str, ReportFormat]:
    """Every registered format by name (duplicate names are rejected)."""
    return {f.name: f for f in load_entries(REGISTERED, ReportFormat, "report format")}
