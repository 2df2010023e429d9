"""The opcode-level pickle walker behind :mod:`aiarmor.modelfiles.pickle_scan`.

A hand-written decoder (offsets, truncation) drives a symbolic stack and memo. Values on the
simulated stack are plain constants (str, bytes, int, float, bool, None), tuples, small dicts,
or the marker classes of :mod:`.pickle_ops`; nothing is ever imported, constructed or called.
The stack machine and its recursion (nested pickles, joblib's inline arrays) live here; the
opcode tables and argument readers in :mod:`.pickle_ops`, the findings in
:mod:`.pickle_findings`.
"""

from __future__ import annotations

import struct
from typing import Any

from aiarmor.core.findings import Severity
from aiarmor.modelfiles import pickle_policy as policy
from aiarmor.modelfiles.pickle_findings import (  # noqa: F401 - re-exported for old imports
    MAX_FINDINGS,
    WalkResult,
    _allowed,
    _broken_stream,
    _computed_call,
    _dynamic_import,
    _extension,
    _judge,
    _legacy_storages,
    _odd_factory,
    _persistent,
    _trailing,
)
from aiarmor.modelfiles.pickle_ops import (
    _CONSTS,
    _F8,
    _I4,
    _INT_WIDTH,
    _LEN_WIDTH,
    _MARK,
    _OPAQUE,
    Broken,
    _Call,
    _data_op,
    _decode_constant,
    _desc,
    _Global,
    _line,
    _plausible_opcode,
    _pop_mark,
    _quoted,
    _take,
    itemsize,
)

MAX_DEPTH = 4
"""Nested-pickle recursion limit (a deeper nest is itself a finding)."""
MAX_STACK = 1_000_000
"""Symbolic stack/memo entry limit."""
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


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
            _broken_stream(exc, start, res)
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
            _dynamic_import(mod, name, at, res)
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
    else:
        pos = _data_op(op, data, pos, at, stack, memo)
    return pos


# ----------------------------------------------------------------------------- calls


def _call(fn: Any, args: Any, at: int, res: WalkResult) -> Any:
    """Symbolic call: resolve getattr chains, follow nested loaders, check factories."""
    if not isinstance(fn, _Global):
        if isinstance(fn, _Call):
            _computed_call(fn, at, res)
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
        _odd_factory(factory, at, res)
    return _Call(fn, args)


# ----------------------------------------------------------------------------- nested


def _maybe_encoded(text: str, at: int, res: WalkResult) -> None:
    if len(text) < 16:
        return
    blob = _decode_constant(text)
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
