"""NumPy ``.npy`` arrays: the header parsed by hand, object arrays walked as pickles."""

from __future__ import annotations

from pathlib import Path

from aiarmor.modelfiles import pickle_scan
from aiarmor.modelfiles.formats.common import ScanContext
from aiarmor.modelfiles.registry import FormatAnalyser, ModelFormat, Sniffed, leaf

MAGIC = b"\x93NUMPY"


def scan_npy(ctx: ScanContext, data: bytes, path: str) -> None:
    """Check the header (never ``np.load``); an object array's pickle goes to the walker."""
    result = pickle_scan.analyze_npy(bytes(data), path=path)
    ctx.entry(path, result.format, data, result.details)
    ctx.findings.extend(result.findings)


def _loads_as(_data: bytes, _path: Path) -> Sniffed:
    return Sniffed(ModelFormat.NUMPY, "NumPy .npy array")


ANALYSER = FormatAnalyser(
    "numpy", lambda head, _data: head.startswith(MAGIC), leaf(scan_npy), _loads_as
)
