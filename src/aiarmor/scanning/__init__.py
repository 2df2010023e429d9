"""Model-file scanning: ``scan(paths) -> ScanReport`` identifies formats by content and never
deserializes anything (the formats and their analysers live in :mod:`aiarmor.modelfiles`)."""

from aiarmor.modelfiles.results import FileEntry, ScanFinding, ScanReport
from aiarmor.scanning.scan import ScanLimits, scan, scan_bytes, to_sarif

__all__ = ["FileEntry", "ScanFinding", "ScanLimits", "ScanReport", "scan", "scan_bytes", "to_sarif"]
