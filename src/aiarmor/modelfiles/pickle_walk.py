"""The opcode-level pickle walker behind :mod:`aiarmor.modelfiles.pickle_scan`.

A hand-written decoder (offsets, truncation) drives a symbolic stack and memo. Values on the
simulated stack are plain constants (str, bytes, int, float, bool, None), tuples, small dicts,
or the marker classes below; nothing is ever imported, constructed or called.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from aiarmor.core.findings import Finding, Location, Severity
from aiarmor.modelfiles import pickle_policy as policy
from aiarmor.modelfiles.results import locate, scan_finding

MAX_DEPTH = 4
"""Nested-pickle recursion limit (a deeper nest is itself a finding)."""
MAX_STACK = 1_000_000
"""Symbolic stack/memo entry limit."""
MAX_FINDINGS = 200
"""Findings kept per analysis (the rest are counted)."""
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

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


@dataclass
class WalkResult:
    """Mutable accumulator of one :func:`walk` (frozen into PickleAnalysis by the caller)."""

    path: str
    depth: int
    nesting: tuple[str, ...] = ()
    base: int = 0
    """Where this blob starts in its file or member (an object array's pickle: after the
    ``.npy`` header), so finding offsets are the file's."""
    format: str = "pickle"
    findings: list[Finding] = field(default_factory=list)
    callables: set[str] = field(default_factory=set)
    details: dict[str, Any] = field(default_factory=dict)
    stream: int = 0
    persistent_ids: int = 0
    storages: dict[str, str] = field(default_factory=dict)
    dropped: int = 0

    def add(self, rule: str, sev: Severity, title: str, detail: str, **ev: Any) -> None:
        """Record a finding with the stream index and nesting path in its evidence."""
        if len(self.findings) >= MAX_FINDINGS:
            self.dropped += 1
            return
        ev.setdefault("stream", self.stream)
        if self.nesting:
            ev["nesting"] = list(self.nesting)
        self.findings.append(scan_finding(rule, sev, title, detail, self._where(ev), evidence=ev))

    def _where(self, ev: dict[str, Any]) -> Location:
        """The path, with the byte offset when it is one of this blob's (not a nested pickle's)."""
        offset = ev.get("offset")
        where = locate(self.path)
        if self.nesting or not isinstance(offset, int) or isinstance(offset, bool):
            return where
        return Location(where.path, where.member, self.base + offset)


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


# ----------------------------------------------------------------------------- the walk


def walk(
    data: bytes, *, path: str, depth: int, nesting: tuple[str, ...] = (), base: int = 0
) -> WalkResult:
    """Walk every pickle stream in ``data`` (which starts ``base`` bytes into its file);
    never raises on hostile input."""
    res = WalkResult(path=path, depth=depth, nesting=nesting, base=base)
    pos, protocols, opcodes = 0, [], 0
    legacy = False
    while pos < len(data):
        if legacy and res.stream == 5:
            _legacy_storages(data, pos, res)
            pos = len(data)
            break
        start = pos
        try:
            value, pos, n_ops, proto = _walk_stream(data, pos, res)
        except Broken as exc:
            res.add(
                "scan.pickle.broken_stream", Severity.MEDIUM,
                "Pickle stream is truncated or broken",
                f"Stream {res.stream} cannot be decoded past offset {exc.offset}: {exc.reason}. "
                "Anything before the break still runs in a real load; the scanner fails closed.",
                offset=exc.offset, start=start,
            )  # fmt: skip
            res.stream += 1
            break
        opcodes += n_ops
        protocols.append(proto)
        if res.stream == 0 and value == TORCH_LEGACY_MAGIC and not isinstance(value, bool):
            legacy, res.format = True, "pytorch-legacy"
        if legacy and res.stream == 4:
            res.details["_legacy_keys"] = value
        res.stream += 1
        if pos < len(data) and not legacy and not _plausible_opcode(data[pos]):
            _trailing(data, pos, res)
            break
    res.details.update(
        streams=res.stream, opcodes=opcodes, protocols=protocols,
        callables=sorted(res.callables), persistent_ids=res.persistent_ids,
    )  # fmt: skip
    if res.dropped:
        res.details["findings_dropped"] = res.dropped
    if res.format == "pickle" and any(c.startswith("joblib.") for c in res.callables):
        res.format = "joblib"
    return res


_OPCODE_BYTES = frozenset(b"(.012FIJKLMNPQRSTUVXabcd}eghijl]opqrst)uGBC") | frozenset(
    range(0x80, 0x99)
)


def _plausible_opcode(byte: int) -> bool:
    return byte in _OPCODE_BYTES


def _trailing(data: bytes, pos: int, res: WalkResult) -> None:
    rest = data[pos:]
    if not rest.strip(b"\x00\n\r\t "):
        return
    res.add(
        "scan.pickle.trailing_data", Severity.MEDIUM, "Unexplained bytes after the last pickle",
        f"{len(rest)} byte(s) after offset {pos} are neither a pickle stream nor known data.",
        offset=pos, length=len(rest),
    )  # fmt: skip


_ELEMENT_SIZE = {
    "Float": 4, "Double": 8, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2,
    "Char": 1, "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16,
}  # fmt: skip


def _legacy_storages(data: bytes, pos: int, res: WalkResult) -> None:
    """Skip legacy torch raw storage bytes (never parsed as pickle) and check their sizes."""
    keys = res.details.pop("_legacy_keys", None)
    res.details["storage_bytes"] = len(data) - pos
    if not isinstance(keys, list):
        return
    for key in keys:
        kind = res.storages.get(str(key), "")
        size = _ELEMENT_SIZE.get(kind.rsplit(".", 1)[-1].removesuffix("Storage"))
        if size is None or pos + 8 > len(data):
            _trailing(data, pos, res)
            return
        pos += 8 + _Q8.unpack_from(data, pos)[0] * size
    if pos != len(data):
        _trailing(data, min(pos, len(data)), res)


def _walk_stream(data: bytes, pos: int, res: WalkResult) -> tuple[Any, int, int, int]:
    """Simulate one stream from ``pos`` to STOP; return (value, end, opcode count, protocol)."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    proto = 0
    n_ops = 0
    size = len(data)
    while True:
        if pos >= size:
            raise Broken("truncated: stream ends without STOP", pos)
        op = data[pos]
        at = pos
        pos += 1
        n_ops += 1
        if not n_ops & 0xFFF and (len(stack) > MAX_STACK or len(memo) > MAX_STACK):
            raise Broken("stack/memo size limit exceeded", at)
        try:
            if op == 0x94:  # MEMOIZE
                memo[len(memo)] = stack[-1]
            elif op == 0x71:  # BINPUT
                memo[data[pos]] = stack[-1]
                pos += 1
            elif op == 0x68:  # BINGET
                stack.append(memo[data[pos]])
                pos += 1
            elif op == 0x8C:  # SHORT_BINUNICODE
                end = pos + 1 + data[pos]
                if end > size:
                    raise Broken("truncated: string runs past the end", at)
                raw, pos = data[pos + 1 : end], end
                text = raw.decode("utf-8", "surrogatepass")
                stack.append(text)
                if len(raw) >= 16:
                    _maybe_encoded(text, at, res)
            elif op == 0x4B:  # BININT1
                stack.append(data[pos])
                pos += 1
            elif op == 0x28:  # MARK
                stack.append(_MARK)
            elif op == 0x65:  # APPENDS
                mark = len(stack) - 1
                while stack[mark] is not _MARK:
                    mark -= 1
                    if mark < 0:
                        raise IndexError("no MARK")
                if mark == 0:
                    raise IndexError("APPENDS without a list")
                target = stack[mark - 1]
                if type(target) is list and len(target) < 100_000:
                    target.extend(stack[mark + 1 :])
                del stack[mark:]
            elif op == 0x4A:  # BININT
                stack.append(_I4.unpack_from(data, pos)[0])
                pos += 4
            elif op == 0x47:  # BINFLOAT
                stack.append(_F8.unpack_from(data, pos)[0])
                pos += 8
            elif op == 0x86:  # TUPLE2
                b = stack.pop()
                stack.append((stack.pop(), b))
            elif op == 0x2E:  # STOP
                return (stack[-1] if stack else None), pos, n_ops, proto
            elif op == 0x95:  # FRAME
                _, pos = _take(data, pos, 8)
            elif op == 0x80:  # PROTO
                proto = data[pos]
                pos += 1
            elif op in (0x5D, 0x7D, 0x29, 0x8F):  # EMPTY_LIST/DICT/TUPLE/SET
                stack.append(
                    {} if op == 0x7D else (() if op == 0x29 else ([] if op == 0x5D else _OPAQUE))
                )
            elif op in (0x4E, 0x88, 0x89):  # NONE NEWTRUE NEWFALSE
                stack.append(_CONSTS[op])
            else:
                pos = _rare(op, data, pos, at, stack, memo, res)
        except (IndexError, KeyError, struct.error) as exc:
            reason = "stack underflow" if isinstance(exc, IndexError) else "unknown memo key"
            if pos >= size or isinstance(exc, struct.error):
                reason = "truncated: argument runs past the end"
            raise Broken(f"{reason} at opcode 0x{op:02x}", at) from None
        except (UnicodeDecodeError, ValueError, OverflowError) as exc:
            raise Broken(f"malformed argument: {type(exc).__name__}", at) from None


def _pop_mark(stack: list[Any]) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise IndexError("no MARK")


_INT_WIDTH = {0x4A: 4, 0x4D: 2, 0x6A: 4, 0x72: 4, 0x84: 4, 0x83: 2, 0x82: 1}
_LEN_WIDTH = {0x58: 4, 0x8D: 8, 0x42: 4, 0x43: 1, 0x8E: 8, 0x96: 8, 0x54: 4, 0x55: 1}
_CONSTS = {0x4E: None, 0x88: True, 0x89: False}


def _rare(
    op: int, data: bytes, pos: int, at: int, stack: list[Any], memo: dict[int, Any],
    res: WalkResult,
) -> int:  # fmt: skip
    """Every opcode outside the hot path; returns the new position."""
    if op in _INT_WIDTH:  # fixed-size int arguments
        width = _INT_WIDTH[op]
        raw, pos = _take(data, pos, width)
        num = _I4.unpack(raw)[0] if op == 0x4A else int.from_bytes(raw, "little")
        if op == 0x6A:
            stack.append(memo[num])
        elif op == 0x72:
            memo[num] = stack[-1]
        elif op in (0x82, 0x83, 0x84):
            _extension(num, at, stack, res)
        else:
            stack.append(num)
    elif op in _LEN_WIDTH:  # sized strings/bytes
        width = _LEN_WIDTH[op]
        raw, pos = _take(data, pos, width)
        n = _I4.unpack(raw)[0] if op == 0x54 else int.from_bytes(raw, "little")
        blob, pos = _take(data, pos, n)
        if op in (0x58, 0x8D):
            text = blob.decode("utf-8", "surrogatepass")
            stack.append(text)
            _maybe_encoded(text, at, res)
        elif op in (0x54, 0x55):
            text = blob.decode("latin-1")
            stack.append(text)
            _maybe_encoded(text, at, res)
        else:
            stack.append(blob)
            _maybe_nested(blob, at, res, "bytes constant")
    elif op in (0x63, 0x69):  # GLOBAL, INST
        mod, pos = _line(data, pos)
        name, pos = _line(data, pos)
        g = _Global(
            policy.normalize(mod.decode("utf-8", "replace"), name.decode("utf-8", "replace"))
        )
        _judge(g, at, res)
        if op == 0x63:
            stack.append(g)
        else:
            stack.append(_call(g, tuple(_pop_mark(stack)), at, res))
    elif op == 0x93:  # STACK_GLOBAL
        name, mod = stack.pop(), stack.pop()
        if isinstance(mod, str) and isinstance(name, str):
            g = _Global(policy.normalize(mod, name))
            _judge(g, at, res)
            stack.append(g)
        else:
            res.add(
                "scan.pickle.dynamic_import", Severity.CRITICAL,
                "STACK_GLOBAL with computed module/name",
                f"The import target is computed at load time ({_desc(mod)}, {_desc(name)}).",
                offset=at, module=_desc(mod), name=_desc(name),
            )  # fmt: skip
            stack.append(_OPAQUE)
    elif op in (0x52, 0x81):  # REDUCE, NEWOBJ
        args = stack.pop()
        stack.append(_call(stack.pop(), args, at, res))
    elif op == 0x92:  # NEWOBJ_EX
        stack.pop()
        args = stack.pop()
        stack.append(_call(stack.pop(), args, at, res))
    elif op == 0x6F:  # OBJ
        objs = _pop_mark(stack)
        stack.append(_call(objs[0], tuple(objs[1:]), at, res))
    elif op == 0x62:  # BUILD
        state = stack.pop()
        target = stack[-1]
        if isinstance(target, _Call):
            target.state = state
            if isinstance(target.fn, _Global) and target.fn.qual.endswith("NumpyArrayWrapper"):
                pos = _skip_joblib_array(data, pos, target, res)
    elif op in (0x85, 0x86, 0x87):  # TUPLE1/2/3
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
    elif op == 0x53:  # STRING
        raw, pos = _line(data, pos)
        text = _quoted(raw, at)
        stack.append(text)
        _maybe_encoded(text, at, res)
    elif op == 0x56:  # UNICODE
        raw, pos = _line(data, pos)
        text = raw.decode("raw-unicode-escape")
        stack.append(text)
        _maybe_encoded(text, at, res)
    elif op in (0x50, 0x51):  # PERSID, BINPERSID
        if op == 0x50:
            raw, pos = _line(data, pos)
            pid: Any = raw.decode("ascii", "replace")
        else:
            pid = stack.pop()
        _persistent(pid, res)
        stack.append(_OPAQUE)
    elif op in (0x97, 0x98):  # NEXT_BUFFER, READONLY_BUFFER
        if op == 0x97:
            stack.append(_OPAQUE)
        else:
            _ = stack[-1]
    else:
        raise Broken(f"invalid opcode 0x{op:02x}", at)
    return pos


def _extend(target: Any, items: list[Any]) -> None:
    if isinstance(target, list) and len(target) < 100_000:
        target.extend(items)


def _allowed(value: Any) -> bool:
    return isinstance(value, _Global) and policy.classify(value.qual) == "allowed"


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


# ----------------------------------------------------------------------------- policy


_SEVERITY = {"dangerous": Severity.CRITICAL, "unknown": Severity.HIGH, "plausible": Severity.LOW}


def _judge(g: _Global, at: int, res: WalkResult) -> None:
    """Classify a referenced callable and record a finding unless it is allowed."""
    res.callables.add(g.qual)
    verdict = policy.classify(g.qual)
    if verdict == "allowed":
        return
    chain = " -> ".join((*g.chain, g.qual)) if g.chain else g.qual
    if verdict == "dangerous":
        rule, title = (
            "scan.pickle.dangerous_callable",
            f"Pickle imports a dangerous callable: {g.qual!r}",
        )
    else:
        rule, title = (
            "scan.pickle.unknown_callable",
            f"Pickle imports a callable outside the allowlist: {g.qual!r}",
        )
    res.add(
        rule, _SEVERITY[verdict], title,
        f"Loading runs {chain!r} (verdict: {verdict}). Pickles can call any importable object.",
        callable=g.qual, chain=chain, offset=at, verdict=verdict,
    )  # fmt: skip


def _call(fn: Any, args: Any, at: int, res: WalkResult) -> Any:
    """Symbolic call: resolve getattr chains, follow nested loaders, check factories."""
    if not isinstance(fn, _Global):
        if isinstance(fn, _Call):
            inner = _desc(fn)
            res.add(
                "scan.pickle.dangerous_callable", Severity.CRITICAL,
                "Pickle calls a computed object",
                f"The result of one call is called again ({inner!r}): a getattr/attrgetter chain.",
                callable=inner, chain=inner, offset=at,
            )  # fmt: skip
        return _Call(fn, args)
    args_t = args if isinstance(args, tuple) else ()
    qual = fn.qual
    if qual == "builtins.getattr" and len(args_t) == 2 and isinstance(args_t[1], str):
        base = _desc(args_t[0])
        resolved = _Global(
            f"{base}.{args_t[1]}", chain=(*fn.chain, f"getattr({base}, {args_t[1]!r})")
        )
        _judge(resolved, at, res)
        return resolved
    importer = qual in ("builtins.__import__", "importlib.import_module")
    if importer and args_t and isinstance(args_t[0], str):
        return _Global(policy.normalize(args_t[0], ""), chain=(f"{qual}({args_t[0]!r})",))
    if qual in policy.NESTED_LOADERS and args_t and isinstance(args_t[0], bytes | str):
        blob = args_t[0].encode("latin-1", "replace") if isinstance(args_t[0], str) else args_t[0]
        _nested(blob, at, res, f"argument of {qual}", force=True)
    factory = args_t[0] if args_t else None
    if qual == "collections.defaultdict" and factory is not None and not _allowed(factory):
        res.add(
                "scan.pickle.unknown_callable", Severity.HIGH,
                "defaultdict with an unusual factory",
                f"collections.defaultdict factory is {_desc(args_t[0])!r}.",
                callable="collections.defaultdict", chain=_desc(args_t[0]), offset=at,
            )  # fmt: skip
    return _Call(fn, args)


def _extension(code: int, at: int, stack: list[Any], res: WalkResult) -> None:
    res.add(
        "scan.pickle.extension_code", Severity.HIGH, "Pickle uses the copyreg extension registry",
        f"EXT opcode with code {code}: the callable comes from the loader's copyreg registry "
        "and cannot be checked statically.",
        offset=at, code=code,
    )  # fmt: skip
    stack.append(_OPAQUE)


def _persistent(pid: Any, res: WalkResult) -> None:
    res.persistent_ids += 1
    is_storage = isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"
    if is_storage and isinstance(pid[1], _Global):
        res.storages[str(pid[2])] = pid[1].qual


# ----------------------------------------------------------------------------- nested


_B64 = re.compile(r"[A-Za-z0-9+/=_\-\s]{16,}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){8,}")


def _maybe_encoded(text: str, at: int, res: WalkResult) -> None:
    if len(text) < 16:
        return
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
    if blob:
        _maybe_nested(blob, at, res, "encoded string constant")


def _maybe_nested(blob: bytes, at: int, res: WalkResult, where: str) -> None:
    if len(blob) >= 4 and blob[0] == 0x80 and 2 <= blob[1] <= 5:
        _nested(blob, at, res, where, force=False)


def _nested(blob: bytes, at: int, res: WalkResult, where: str, *, force: bool) -> None:
    """Analyze an embedded pickle; report it (and everything inside, with its nesting path)."""
    label = f"stream {res.stream} offset {at} ({where})"
    if res.depth + 1 > MAX_DEPTH:
        res.add(
            "scan.pickle.nested", Severity.HIGH, "Nested pickles exceed the depth limit",
            f"Nesting deeper than {MAX_DEPTH} at {label}.", offset=at,
        )  # fmt: skip
        return
    inner = walk(blob, path=res.path, depth=res.depth + 1, nesting=(*res.nesting, label))
    if not force and not inner.callables:
        return  # plain data that merely starts like a pickle
    if not force and (inner.findings and all(
        f.check_id in ("scan.pickle.broken_stream", "scan.pickle.trailing_data")
        for f in inner.findings
    )):  # fmt: skip
        return  # random bytes that merely start like a pickle
    res.details.setdefault("nested", []).append({"at": label, **inner.details})
    res.callables.update(inner.callables)
    res.add(
        "scan.pickle.nested", Severity.HIGH if force or inner.findings else Severity.MEDIUM,
        "Pickle carries another pickle",
        f"A pickle embedded at {label} is loaded or loadable in turn; its contents were analyzed.",
        offset=at, where=where,
    )  # fmt: skip
    res.findings.extend(inner.findings)


# ----------------------------------------------------------------------------- joblib


def _skip_joblib_array(data: bytes, pos: int, wrapper: _Call, res: WalkResult) -> int:
    """Skip the array bytes joblib writes inline after a NumpyArrayWrapper's BUILD."""
    state = wrapper.state if isinstance(wrapper.state, dict) else {}
    dtype, shape = state.get("dtype"), state.get("shape")
    descr = dtype.args[0] if isinstance(dtype, _Call) and isinstance(dtype.args, tuple) else None
    if not isinstance(descr, str) or not isinstance(shape, tuple):
        raise Broken("joblib NumpyArrayWrapper without a readable dtype/shape", pos)
    res.format = "joblib"
    if descr.startswith("O"):
        _value, end, _n, _p = _walk_stream(data, pos, res)  # object arrays: an inline pickle
        return end
    if state.get("numpy_array_alignment_bytes") is not None:
        pad, _ = _take(data, pos, 1)
        pos += 1 + pad[0]
    count = 1
    for dim in shape:
        if not isinstance(dim, int) or dim < 0:
            raise Broken("joblib array with a bad shape", pos)
        count *= dim
    _blob, end = _take(data, pos, count * itemsize(descr, pos))
    return end


def itemsize(descr: str, pos: int) -> int:
    """Bytes per element of a simple numpy dtype string (``<f8``, ``|u1``, ``<U5``)."""
    m = re.fullmatch(r"[<>|=]?([biufcmMSUV?])(\d*)", descr)
    if not m:
        raise Broken(f"unsupported dtype {descr[:40]!r}", pos)
    kind, num = m.group(1), int(m.group(2) or 1)
    return num * 4 if kind == "U" else (1 if kind == "?" else num)


def looks_like_old_pickle(head: bytes) -> bool:
    """Protocol 0/1 heuristic: the first opcodes decode cleanly and include a typical opener."""
    if not head or head[0] not in b"(]}cdlS\x8a)NVIKJX":
        return False
    res = WalkResult(path="", depth=MAX_DEPTH)
    try:
        _walk_stream(head, 0, res)
    except Broken as exc:
        # a stream that breaks after a known-dangerous callable still runs it in a real
        # load (nullifAI); unknown names alone are not enough (text such as "config\n...")
        dangerous = any(f.evidence.get("verdict") == "dangerous" for f in res.findings)
        return exc.offset > 2 and (exc.reason.startswith("truncated") or dangerous)
    return True
