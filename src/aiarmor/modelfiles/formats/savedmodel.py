"""TensorFlow SavedModel (``saved_model.pb``): ops that touch the file system or run Python.

NodeDef stores its op name as field 2 (tag ``0x12``, length, name); we look for exactly that
encoding of each dangerous op, so nothing is parsed into TensorFlow objects.
"""

from __future__ import annotations

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.formats.common import ScanContext
from aiarmor.modelfiles.formats.onnx_fmt import fields
from aiarmor.modelfiles.registry import FormatAnalyser, leaf

DANGEROUS_OPS = (
    "ReadFile", "WriteFile", "MatchingFiles", "PyFunc", "PyFuncStateless", "EagerPyFunc",
    "Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints", "DeleteFile", "RecursiveCreateDir",
    "ImmutableConst", "LoadAndRemapMatrix",
)  # fmt: skip
"""Ops that read/write arbitrary files or execute Python."""


def looks_like_saved_model(data: bytes) -> bool:
    """SavedModel proto: schema version (field 1 varint) then meta graphs (field 2)."""
    if data[:1] != b"\x08":
        return False
    try:
        return any(num == 2 and wire == 2 for num, wire, _v in fields(data))
    except ValueError:
        return False


def scan_saved_model(ctx: ScanContext, data: bytes, path: str) -> None:
    """Report every dangerous op the graph names."""
    # find(), not ``in``: ``data`` may be an mmap, whose ``in`` tests single bytes only
    found = [op for op in DANGEROUS_OPS if data.find(b"\x12" + bytes([len(op)]) + op.encode()) >= 0]
    ctx.entry(path, "tf-savedmodel", data, {"dangerous_ops": found})
    for op in found:
        ctx.add(
            "scan.savedmodel.op",
            Severity.HIGH,
            f"SavedModel uses the {op} op",
            f"{op} reads/writes files or runs Python when the graph executes.",
            path,
            {"op": op},
        )


ANALYSER = FormatAnalyser(
    "savedmodel", lambda _head, data: looks_like_saved_model(data), leaf(scan_saved_model)
)
