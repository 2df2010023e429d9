"""The scan-format registry: what ``aiarmor scan --format NAME`` can write.

Adding a scan format: write its renderer module with a :class:`ScanFormat` and add one line
for it to :data:`REGISTERED`. ``aiarmor scan`` resolves ``--format`` through this registry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiarmor.core.plugins import load_entries
from aiarmor.modelfiles.results import ScanReport


@dataclass(frozen=True, slots=True)
class ScanFormat:
    """One output format of a scan."""

    name: str
    """What ``--format`` calls it, e.g. ``"sarif"``."""
    render: Callable[[ScanReport], str]
    """The scan as a document: written to ``--out``, or to stdout unless ``for_terminal``."""
    for_terminal: bool = False
    """True for the people's view (``text``): the CLI draws it on the terminal, and ``--out``
    still receives ``render``'s document."""


def scan_json_text(report: ScanReport) -> str:
    """The versioned scan JSON (``scanning/scan.schema.json``), indented, ASCII-only."""
    return json.dumps(report.to_dict(), indent=2) + "\n"


TEXT = ScanFormat("text", scan_json_text, for_terminal=True)
"""A table on the terminal; ``--out`` gets the JSON document."""
JSON = ScanFormat("json", scan_json_text)
"""The versioned scan JSON."""

REGISTERED: tuple[str, ...] = (
    "aiarmor.reporting.scan_formats:TEXT",
    "aiarmor.reporting.scan_formats:JSON",
    "aiarmor.reporting.sarif:SCAN_FORMAT",
)
"""``module:ATTRIBUTE`` of every scan format; the first is the default."""


@functools.cache
def scan_formats() -> dict[str, ScanFormat]:
    """Every registered scan format by name (duplicate names are rejected)."""
    return {f.name: f for f in load_entries(REGISTERED, ScanFormat, "scan format")}
