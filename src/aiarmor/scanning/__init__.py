"""Model-file scanning: ``scan(paths) -> ScanReport`` identifies formats by content and never
deserializes anything (the formats and their analysers live in :mod:`aiarmor.modelfiles`).

A scan finding is a core :class:`~aiarmor.core.findings.Finding` whose ``check_id`` is the rule
id and whose ``location`` says where; its SARIF form is in :mod:`aiarmor.reporting.sarif`.
"""

from aiarmor.modelfiles.results import FileEntry, ScanReport
from aiarmor.scanning.scan import ScanLimits, scan, scan_bytes

__all__ = ["FileEntry", "ScanLimits", "ScanReport", "scan", "scan_bytes"]
