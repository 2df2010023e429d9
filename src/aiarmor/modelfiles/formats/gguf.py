"""GGUF header and metadata: sanity of counts, and chat templates that reach Python internals.

Some runtimes render ``tokenizer.chat_template`` with an unsandboxed Jinja2 environment;
a template that walks to ``__globals__``/``__builtins__`` runs code (CVE-2024-34359).
"""

from __future__ import annotations

import re
import struct
from typing import Any

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.formats.common import ScanContext
from aiarmor.modelfiles.registry import FormatAnalyser, leaf

_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_TEMPLATE_RISK = re.compile(
    r"__class__|__globals__|__builtins__|__import__|__subclasses__|__mro__|__init__|"
    r"\bos\b|popen|subprocess|cycler|joiner|namespace|\|\s*attr\b"
)
MAX_KV = 1_000_000
"""More metadata entries than this is not a real model."""


def is_gguf(head: bytes) -> bool:
    """``GGUF`` magic."""
    return head[:4] == b"GGUF"


class _Reader:
    """Bounds-checked little-endian reader (raises ValueError past the end)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("truncated")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        if self.pos + n > len(self.data):
            raise ValueError("string length past the end of the file")
        raw = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", "replace")

    def value(self, vtype: int, depth: int = 0) -> Any:
        if depth > 4:  # hostile nesting must fail closed, not exhaust the stack
            raise ValueError("metadata arrays nested too deeply")
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            itype, count = self.unpack("<I"), self.unpack("<Q")
            if count > len(self.data) - self.pos:
                raise ValueError("array count larger than the file")
            items = [self.value(itype, depth + 1) for _ in range(count)]
            return items if itype == 8 and len(items) < 64 else len(items)
        raise ValueError(f"unknown metadata type {vtype}")


def scan_gguf(ctx: ScanContext, data: bytes, path: str) -> None:
    """Parse the header and metadata; report malformed files and risky chat templates."""
    reader = _Reader(data)
    meta: dict[str, Any] = {}
    try:
        reader.pos = 4
        version = reader.unpack("<I")
        n_tensors, n_kv = reader.unpack("<Q"), reader.unpack("<Q")
        if n_kv > MAX_KV or n_tensors > len(data):
            raise ValueError(f"implausible counts: {n_tensors} tensors, {n_kv} metadata entries")
        for _ in range(n_kv):
            key = reader.string()
            meta[key] = reader.value(reader.unpack("<I"))
    except ValueError as exc:
        ctx.entry(path, "gguf", data, {})
        ctx.add("scan.gguf.malformed", Severity.MEDIUM, "Malformed GGUF header", str(exc), path)
        return
    templates = sorted(k for k in meta if k.startswith("tokenizer.chat_template"))
    details = {"version": version, "tensors": n_tensors, "metadata": n_kv}
    ctx.entry(path, "gguf", data, {**details, "chat_templates": templates})
    for key, value in meta.items():
        if key.startswith("tokenizer.chat_template") and isinstance(value, str):
            _template(ctx, key, value, path)


def _template(ctx: ScanContext, key: str, template: str, path: str) -> None:
    """A template reaching Python internals is high; a plain one is only inventoried."""
    hits = sorted(set(_TEMPLATE_RISK.findall(template)))
    if hits:
        ctx.add(
            "scan.gguf.chat_template",
            Severity.HIGH,
            "Chat template reaches Python internals (template injection)",
            f"{key} uses {', '.join(map(repr, hits[:10]))}; runtimes that render it without a "
            "sandbox execute code (CVE-2024-34359).",
            path,
            {"key": key, "markers": hits},
        )


ANALYSER = FormatAnalyser("gguf", lambda head, _data: is_gguf(head), leaf(scan_gguf))
