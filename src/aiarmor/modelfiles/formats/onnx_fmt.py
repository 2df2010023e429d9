"""ONNX models read with a minimal protobuf wire-format reader (nothing is executed).

Checks: operator domains outside the standard ones (custom ops load native code) and
external-data locations that are absolute or escape the model directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.formats.common import ScanContext, safe_name
from aiarmor.modelfiles.formats.paths import escapes
from aiarmor.modelfiles.registry import FormatAnalyser, ModelFormat, Sniffed, leaf

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


_MAX_GRAPH_DEPTH = 32
"""Deepest subgraph nesting followed (If/Loop/Scan bodies); deeper is a finding."""


class _Collected:
    """Domains and external-data locations of every graph, subgraph and function."""

    def __init__(self) -> None:
        self.domains: set[str] = set()
        self.locations: list[str] = []
        self.too_deep = False

    def graph(self, graph: bytes, depth: int) -> None:
        """GraphProto: nodes (1), initializers (5), sparse initializers (15)."""
        if depth > _MAX_GRAPH_DEPTH:
            self.too_deep = True
            return
        for node in _sub(graph, 1):
            self.node(node, depth)
        for tensor in _sub(graph, 5):
            self.tensor(tensor)
        for sparse in _sub(graph, 15):
            for tensor in _sub(sparse, 1) + _sub(sparse, 2):
                self.tensor(tensor)

    def node(self, node: bytes, depth: int) -> None:
        """NodeProto domain (7); attributes (5) carry tensors (5, 10) and graphs (6, 11)."""
        self.domains.update(d.decode("utf-8", "replace") for d in _sub(node, 7))
        for attr in _sub(node, 5):
            for tensor in _sub(attr, 5) + _sub(attr, 10):
                self.tensor(tensor)
            for graph in _sub(attr, 6) + _sub(attr, 11):
                self.graph(graph, depth + 1)

    def tensor(self, tensor: bytes) -> None:
        """TensorProto external_data (13): key/value entries; ``location`` is a path."""
        for entry in _sub(tensor, 13):
            kv = {n: v for n, _w, v in fields(entry)}
            if kv.get(1) == b"location" and isinstance(kv.get(2), bytes):
                self.locations.append(bytes(kv[2]).decode("utf-8", "replace"))

    def model(self, data: bytes) -> None:
        """ModelProto: graph (7), opset_import domains (8), local functions (25)."""
        for graph in _sub(data, 7):
            self.graph(graph, 0)
        for opset in _sub(data, 8):
            self.domains.update(d.decode("utf-8", "replace") for d in _sub(opset, 1))
        for function in _sub(data, 25):
            for node in _sub(function, 7):
                self.node(node, 1)


def scan_onnx(ctx: ScanContext, data: bytes, path: str) -> None:
    """Check operator domains and external-data locations of every graph and subgraph."""
    found = _Collected()
    try:
        found.model(data)
    except ValueError as exc:
        ctx.entry(path, "onnx", data, {})
        why = f"The protobuf could not be read ({exc}); it was not fully inspected."
        ctx.add("scan.onnx.malformed", Severity.MEDIUM, "Malformed ONNX model", why, path)
        return
    domains, locations = found.domains, found.locations
    ctx.entry(path, "onnx", data, {"domains": sorted(domains), "external_data": locations})
    if found.too_deep:
        ctx.limit(path, f"ONNX subgraphs nested deeper than {_MAX_GRAPH_DEPTH}", {})
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


def _loads_as(_data: bytes, _path: Path) -> Sniffed:
    return Sniffed(ModelFormat.ONNX, "ONNX model")


ANALYSER = FormatAnalyser(
    "onnx", lambda _head, data: looks_like_onnx(data), leaf(scan_onnx), _loads_as
)
