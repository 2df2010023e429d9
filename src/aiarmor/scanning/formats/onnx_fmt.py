"""ONNX models read with a minimal protobuf wire-format reader (nothing is executed).

Checks: operator domains outside the standard ones (custom ops load native code) and
external-data locations that are absolute or escape the model directory.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiarmor.core.findings import Severity
from aiarmor.scanning.formats.common import ScanContext, safe_name
from aiarmor.scanning.formats.paths import escapes

STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"}
"""Operator domains served by onnxruntime's built-in kernels."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) of one message; raise ValueError when corrupt."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield num, wire, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("length-delimited field past the end")
            yield num, wire, bytes(data[pos : pos + size])
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _sub(data: bytes, num: int) -> list[bytes]:
    return [v for n, w, v in fields(data) if n == num and w == 2 and isinstance(v, bytes)]


def looks_like_onnx(data: bytes) -> bool:
    """ModelProto: starts with ir_version (field 1 varint) and has a graph (field 7)."""
    if data[:1] != b"\x08":
        return False
    try:
        return bool(_sub(data, 7))
    except ValueError:
        return False


def scan_onnx(ctx: ScanContext, data: bytes, path: str) -> None:
    """Check operator domains and external-data locations of every graph."""
    domains: set[str] = set()
    locations: list[str] = []
    for graph in _sub(data, 7):
        for node in _sub(graph, 1):
            domains.update(d.decode("utf-8", "replace") for d in _sub(node, 7))
        for tensor in _sub(graph, 5):
            for entry in _sub(tensor, 13):
                kv = dict((n, v) for n, _w, v in fields(entry))
                if kv.get(1) == b"location" and isinstance(kv.get(2), bytes):
                    locations.append(bytes(kv[2]).decode("utf-8", "replace"))
    ctx.entry(path, "onnx", data, {"domains": sorted(domains), "external_data": locations})
    for domain in sorted(domains - STANDARD_DOMAINS):
        ctx.add(
            "scan.onnx.custom_domain",
            Severity.MEDIUM,
            "Custom operator domain",
            f"Domain {safe_name(domain)} needs a custom-op library (native code) to run.",
            path,
            {"domain": domain},
        )
    for location in locations:
        if escapes(location):
            ctx.add(
                "scan.onnx.external_data",
                Severity.HIGH,
                "External data path escapes the model directory",
                f"Tensor data is read from {safe_name(location)} (arbitrary file read).",
                path,
                {"location": location},
            )
