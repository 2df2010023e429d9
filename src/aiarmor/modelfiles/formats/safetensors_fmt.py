"""safetensors header validation (the header is JSON; tensor data is never read)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.formats.common import ScanContext, check_extension
from aiarmor.modelfiles.registry import FormatAnalyser, ModelFormat, Sniffed, leaf

MAX_HEADER = 100 * 1024**2
"""The reference implementation's header-size cap."""
MAX_METADATA = 64 * 1024
"""Largest ``__metadata__`` we accept without a finding."""
ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2,
    "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8, "C64": 8,
}  # fmt: skip
"""Bytes per element of every dtype the format defines."""


def looks_like_safetensors(data: bytes) -> bool:
    """8-byte little-endian header length followed by ``{``."""
    return len(data) >= 10 and data[8:9] == b"{"


def scan_safetensors(ctx: ScanContext, data: bytes, path: str) -> None:
    """Validate the header; every violation is a ``scan.safetensors.*`` finding."""
    problems, details = validate(data)
    ctx.entry(path, "safetensors", data, details)
    for rule, msg in problems[:20]:
        ctx.add(
            f"scan.safetensors.{rule}",
            Severity.HIGH if rule in ("header", "offsets") else Severity.MEDIUM,
            "Malformed safetensors header",
            msg,
            path,
        )


def validate(data: bytes) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Return ``[(rule, message)]`` and inventory details for a safetensors blob."""
    (hlen,) = struct.unpack_from("<Q", data)
    if hlen > MAX_HEADER or 8 + hlen > len(data) or hlen < 2:
        return [("header", f"header length {hlen} is not within 2 bytes .. min(file, 100 MiB)")], {}
    dups: list[str] = []
    try:
        header = json.loads(
            bytes(data[8 : 8 + hlen]).decode("utf-8"),
            object_pairs_hook=lambda pairs: _no_duplicates(pairs, dups),
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return [("header", f"header is not UTF-8 JSON: {str(exc)[:200]}")], {}
    if not isinstance(header, dict):
        return [("header", "header is not a JSON object")], {}
    if dups:
        return [("header", f"duplicate keys {sorted(set(dups))[:5]!r} (readers disagree)")], {}
    problems = _metadata(header.pop("__metadata__", None))
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        problems += _tensor(str(name), info, spans)
    problems += _layout(spans, len(data) - 8 - hlen)
    return problems, {"tensors": len(header), "header_bytes": hlen}


def _no_duplicates(pairs: list[tuple[str, Any]], dups: list[str]) -> dict[str, Any]:
    """``object_pairs_hook`` that records keys given twice (the last one would win)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            dups.append(key[:80])
        seen[key] = value
    return seen


def _metadata(meta: object) -> list[tuple[str, str]]:
    if meta is None:
        return []
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        return [("metadata", "__metadata__ must map strings to strings")]
    if sum(len(k) + len(v) for k, v in meta.items()) > MAX_METADATA:
        return [("metadata", f"__metadata__ is larger than {MAX_METADATA} bytes")]
    return []


def _tensor(name: str, info: object, spans: list[tuple[int, int, str]]) -> list[tuple[str, str]]:
    if not isinstance(info, dict):
        return [("tensor", f"tensor {name!r} entry is not an object")]
    dtype, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in ITEMSIZE:
        return [("dtype", f"tensor {name!r} has unknown dtype {str(dtype)[:40]!r}")]
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        return [("shape", f"tensor {name!r} has an invalid shape")]
    if (
        not isinstance(offs, list)
        or len(offs) != 2
        or not all(type(o) is int and o >= 0 for o in offs)
        or offs[0] > offs[1]
    ):
        return [("offsets", f"tensor {name!r} has invalid data_offsets")]
    spans.append((offs[0], offs[1], name))
    if offs[1] - offs[0] != math.prod(shape) * ITEMSIZE[str(dtype)]:
        return [("size", f"tensor {name!r} byte size does not match its shape and dtype")]
    return []


def _layout(spans: list[tuple[int, int, str]], data_len: int) -> list[tuple[str, str]]:
    """Offsets must tile the data section: start at 0, no overlap, no gap, end at its end.

    The reference reader enforces the same; bytes no tensor claims can carry a hidden
    payload for another reader, and overlaps alias one tensor's data as another's.
    """
    problems: list[tuple[str, str]] = []
    end = 0
    for start, stop, name in sorted(spans):
        if stop > data_len:
            problems.append(("offsets", f"tensor {name!r} ends past the data section"))
        if start < end:
            problems.append(("offsets", f"tensor {name!r} overlaps another tensor"))
        elif start > end:
            what = "the first tensor starts at" if end == 0 else "a gap of unclaimed bytes before"
            problems.append(("layout", f"{what} byte {start} ({name!r}); bytes {end}..{start} "
                             "belong to no tensor"))  # fmt: skip
        end = max(end, stop)
    if end < data_len:
        problems.append(("layout", f"{data_len - end} bytes after the last tensor belong to none"))
    return problems


def _scan(ctx: ScanContext, data: bytes, path: str) -> None:
    scan_safetensors(ctx, data, path)
    check_extension(ctx, path, "safetensors")


def _loads_as(_data: bytes, _path: Path) -> Sniffed:
    return Sniffed(ModelFormat.SAFETENSORS, "safetensors weights")


ANALYSER = FormatAnalyser(
    "safetensors", lambda head, _data: looks_like_safetensors(head), leaf(_scan), _loads_as
)
