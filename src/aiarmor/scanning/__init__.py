"""Model-file scanning: ``scan(paths) -> ScanReport`` identifies formats by content and never
deserializes anything."""

from aiarmor.scanning.scan import ScanLimits, scan, scan_bytes, to_sarif
from aiarmor.scanning.types import FileEntry, ScanFinding, ScanReport

__all__ = ["FileEntry", "ScanFinding", "ScanLimits", "ScanReport", "scan", "scan_bytes", "to_sarif"]
