"""Result types of the scanner, defined in :mod:`aiarmor.modelfiles.results` (kept here so
``aiarmor.scanning.types`` imports keep working)."""

from aiarmor.modelfiles.results import (
    FAIL_AT,
    SCAN_SCHEMA_VERSION,
    FileEntry,
    ScanReport,
)

__all__ = ["FAIL_AT", "SCAN_SCHEMA_VERSION", "FileEntry", "ScanReport"]
