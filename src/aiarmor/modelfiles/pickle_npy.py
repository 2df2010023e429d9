"""Hand-written ``.npy`` header parser (never ``np.load``) for :mod:`pickle_scan`."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from aiarmor.core.findings import Finding, Severity
from aiarmor.modelfiles.pickle_ops import Broken, itemsize
from aiarmor.modelfiles.results import scan_finding

_PY2_LONG = re.compile(r"(?<=[(,\s])(\d+)L(?=[,)\s])")


@dataclass(frozen=True, slots=True)
class NpyHeader:
    """A parsed ``.npy`` header."""

    descr: Any
    """The dtype description."""
    fortran_order: bool
    """Column-major data."""
    shape: tuple[int, ...]
    """Array shape."""
    data_offset: int
    """Where the array bytes (or the object pickle) start."""
    has_object: bool
    """Object dtype: the payload is a pickle."""


def parse_npy_header(data: bytes, *, path: str) -> tuple[NpyHeader | None, list[Finding]]:
    """Parse a ``.npy`` header by hand; a malformed header is a ``scan.npy.bad_header`` finding."""

    def bad(why: str) -> tuple[None, list[Finding]]:
        f = scan_finding("scan.npy.bad_header", Severity.MEDIUM, "Malformed .npy header", why, path)
        return None, [f]

    if data[:6] != b"\x93NUMPY" or len(data) < 10:
        return bad("missing the \\x93NUMPY magic")
    major = data[6]
    width = 2 if major == 1 else 4
    hlen = int.from_bytes(data[8 : 8 + width], "little")
    start = 8 + width
    if start + hlen > len(data) or hlen > 1_000_000:
        return bad(f"header length {hlen} exceeds the file")
    text = data[start : start + hlen].decode("latin-1")
    if major == 1:  # Python 2 wrote long integers in the shape as ``2L`` (numpy accepts them)
        text = _PY2_LONG.sub(r"\1", text)
    try:
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return bad("header is not a Python literal")
    if not isinstance(header, dict) or {"descr", "fortran_order", "shape"} - header.keys():
        return bad("header lacks descr/fortran_order/shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return bad(f"bad shape {shape!r}")
    descr = header["descr"]
    has_object = "O" in repr(descr)
    hdr = NpyHeader(descr, bool(header["fortran_order"]), shape, start + hlen, has_object)
    if has_object:
        return hdr, []
    count = 1
    for d in shape:
        count *= d
    try:
        size = itemsize(descr, 0) if isinstance(descr, str) else None
    except Broken:
        size = None
    if size is not None and count * size != len(data) - hdr.data_offset:
        return hdr, bad(
            f"shape {shape!r} x itemsize {size} = {count * size} bytes, "
            f"but {len(data) - hdr.data_offset} follow the header"
        )[1]
    return hdr, []
