"""Opcode tables, argument readers and the symbolic values of :mod:`.pickle_walk`.

Values on the simulated stack are plain constants (str, bytes, int, float, bool, None),
tuples, small dicts, or the marker classes below; nothing is ever imported, constructed or
called. The readers raise :class:`Broken` at the offset where a stream cannot be decoded.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import struct
from typing import Any

_MARK = object()


class _Global:
    """A resolved module attribute (``chain`` lists getattr steps that produced it)."""

    __slots__ = ("chain", "qual")

    def __init__(self, qual: str, chain: tuple[str, ...] = ()) -> None:
        self.qual = qual
        self.chain = chain


class _Call:
    """The symbolic result of calling ``fn`` with ``args`` (``state`` set by BUILD)."""

    __slots__ = ("args", "fn", "state")

    def __init__(self, fn: Any, args: Any) -> None:
        self.fn = fn
        self.args = args
        self.state: Any = None


class _Opaque:
    """A value the walker does not track (lists, sets, persistent objects, ...)."""

    __slots__ = ()


_OPAQUE = _Opaque()


class Broken(Exception):
    """The stream cannot be decoded further at ``offset``."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


# ----------------------------------------------------------------------------- decoding


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\n", pos)
    if end < 0:
        raise Broken("truncated: newline-terminated argument never ends", pos)
    return data[pos:end], end + 1


def _take(data: bytes, pos: int, n: int) -> tuple[bytes, int]:
    if n < 0 or pos + n > len(data):
        raise Broken(f"truncated: needs {n} byte(s) at offset {pos}", pos)
    return data[pos : pos + n], pos + n


_U4 = struct.Struct("<I")
_I4 = struct.Struct("<i")
_Q8 = struct.Struct("<Q")
_F8 = struct.Struct(">d")


def _decimal(raw: bytes, pos: int) -> int | bool:
    text = raw.decode("ascii", "replace").rstrip("L")
    if text in ("00", "01"):
        return text == "01"
    try:
        return int(text)
    except ValueError:
        raise Broken(f"bad decimal argument {text[:40]!r}", pos) from None


def _quoted(raw: bytes, pos: int) -> str:
    if len(raw) < 2 or raw[:1] not in (b"'", b'"') or raw[-1:] != raw[:1]:
        raise Broken("STRING argument is not quoted", pos)
    decoded: bytes = codecs.escape_decode(raw[1:-1])[0]
    return decoded.decode("latin-1")


_OPCODE_BYTES = frozenset(b"(.012FIJKLMNPQRSTUVXabcd}eghijl]opqrst)uGBC") | frozenset(
    range(0x80, 0x99)
)


def _plausible_opcode(byte: int) -> bool:
    return byte in _OPCODE_BYTES


_INT_WIDTH = {0x4A: 4, 0x4D: 2, 0x6A: 4, 0x72: 4, 0x84: 4, 0x83: 2, 0x82: 1}
_LEN_WIDTH = {0x58: 4, 0x8D: 8, 0x42: 4, 0x43: 1, 0x8E: 8, 0x96: 8, 0x54: 4, 0x55: 1}
_CONSTS = {0x4E: None, 0x88: True, 0x89: False}


# ----------------------------------------------------------------------------- the stack


def _pop_mark(stack: list[Any]) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise IndexError("no MARK")


def _extend(target: Any, items: list[Any]) -> None:
    if isinstance(target, list) and len(target) < 100_000:
        target.extend(items)


def _dict_of(items: list[Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    _set_items(out, items)
    return out


def _set_items(target: Any, items: list[Any]) -> None:
    if len(items) % 2:
        raise IndexError("odd SETITEMS")
    if isinstance(target, dict) and len(target) < 64:
        for k, v in zip(items[::2], items[1::2], strict=True):
            if isinstance(k, str | int | bytes):
                target[k] = v


def _desc(value: Any) -> str:
    if isinstance(value, _Global):
        return value.qual
    if isinstance(value, _Call):
        return f"<result of {_desc(value.fn)}(...)>"
    if isinstance(value, str | bytes | int | float):
        return repr(value)[:200]
    return f"<{type(value).__name__}>"


def _data_op(
    op: int, data: bytes, pos: int, at: int, stack: list[Any], memo: dict[int, Any]
) -> int:
    """The rare opcodes that only build or move data (no callable, no string or nested
    pickle to inspect); returns the new position."""
    if op in (0x85, 0x86, 0x87):  # TUPLE1/2/3
        n = op - 0x84
        if len(stack) < n:
            raise IndexError
        tup = tuple(stack[-n:])
        del stack[-n:]
        stack.append(tup)
    elif op == 0x74:  # TUPLE
        stack.append(tuple(_pop_mark(stack)))
    elif op in (0x6C, 0x91):  # LIST, FROZENSET
        objs = _pop_mark(stack)
        stack.append(objs if op == 0x6C else _OPAQUE)
    elif op == 0x64:  # DICT
        items = _pop_mark(stack)
        stack.append(_dict_of(items))
    elif op in (0x65, 0x90):  # APPENDS, ADDITEMS
        objs = _pop_mark(stack)
        _extend(stack[-1], objs)
    elif op == 0x61:  # APPEND
        obj = stack.pop()
        _extend(stack[-1], [obj])
    elif op == 0x73:  # SETITEM
        v, k = stack.pop(), stack.pop()
        _set_items(stack[-1], [k, v])
    elif op == 0x75:  # SETITEMS
        items = _pop_mark(stack)
        _set_items(stack[-1], items)
    elif op == 0x30:  # POP
        stack.pop()
    elif op == 0x31:  # POP_MARK
        _pop_mark(stack)
    elif op == 0x32:  # DUP
        stack.append(stack[-1])
    elif op in (0x67, 0x70):  # GET, PUT (text)
        raw, pos = _line(data, pos)
        key = int(_decimal(raw, at))
        if op == 0x67:
            stack.append(memo[key])
        else:
            memo[key] = stack[-1]
    elif op in (0x49, 0x4C):  # INT, LONG (text)
        raw, pos = _line(data, pos)
        stack.append(_decimal(raw, at))
    elif op == 0x46:  # FLOAT
        raw, pos = _line(data, pos)
        stack.append(float(raw))
    elif op == 0x47:  # BINFLOAT
        raw, pos = _take(data, pos, 8)
        stack.append(struct.unpack(">d", raw)[0])
    elif op in (0x8A, 0x8B):  # LONG1, LONG4
        raw, pos = _take(data, pos, 1 if op == 0x8A else 4)
        n = int.from_bytes(raw, "little", signed=op == 0x8B)
        blob, pos = _take(data, pos, n)
        stack.append(int.from_bytes(blob, "little", signed=True))
    elif op in (0x97, 0x98):  # NEXT_BUFFER, READONLY_BUFFER
        if op == 0x97:
            stack.append(_OPAQUE)
        else:
            _ = stack[-1]
    else:
        raise Broken(f"invalid opcode 0x{op:02x}", at)
    return pos


# ----------------------------------------------------------------------------- constants


_B64 = re.compile(r"[A-Za-z0-9+/=_\-\s]{16,}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){8,}")


def _decode_constant(text: str) -> bytes | None:
    """The bytes a hex or base64 string constant encodes (None when it is neither)."""
    blob: bytes | None = None
    if _HEX.fullmatch(text):
        blob = bytes.fromhex(text)
    elif _B64.fullmatch(text):
        try:
            blob = base64.b64decode(
                text + "==", altchars=b"-_" if "-" in text or "_" in text else None
            )
        except (binascii.Error, ValueError):
            blob = None
    return blob


def itemsize(descr: str, pos: int) -> int:
    """Bytes per element of a simple numpy dtype string (``<f8``, ``|u1``, ``<U5``)."""
    m = re.fullmatch(r"[<>|=]?([biufcmMSUV?])(\d*)", descr)
    if not m:
        raise Broken(f"unsupported dtype {descr[:40]!r}", pos)
    kind, num = m.group(1), int(m.group(2) or 1)
    return num * 4 if kind == "U" else (1 if kind == "?" else num)
