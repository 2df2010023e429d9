"""The findings of :mod:`.pickle_walk`: its accumulator and the finding builders.

:class:`WalkResult` collects one walk's findings (capped at :data:`MAX_FINDINGS`), callables
and details; the builders here word every finding the walker records about a referenced
callable, a broken stream, trailing bytes or the extension registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiarmor.core.findings import Finding, Location, Severity
from aiarmor.modelfiles import pickle_policy as policy
from aiarmor.modelfiles.pickle_ops import _OPAQUE, _Q8, Broken, _Call, _desc, _Global
from aiarmor.modelfiles.results import locate, scan_finding

MAX_FINDINGS = 200
"""Findings kept per analysis (the rest are counted)."""


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


# ----------------------------------------------------------------------------- the stream


def _broken_stream(exc: Broken, start: int, res: WalkResult) -> None:
    res.add(
        "scan.pickle.broken_stream", Severity.MEDIUM,
        "Pickle stream is truncated or broken",
        f"Stream {res.stream} cannot be decoded past offset {exc.offset}: {exc.reason}. "
        "Anything before the break still runs in a real load; the scanner fails closed.",
        offset=exc.offset, start=start,
    )  # fmt: skip


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


# ----------------------------------------------------------------------------- callables


def _allowed(value: Any) -> bool:
    return isinstance(value, _Global) and policy.classify(value.qual) == "allowed"


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


def _dynamic_import(mod: Any, name: Any, at: int, res: WalkResult) -> None:
    res.add(
        "scan.pickle.dynamic_import", Severity.CRITICAL,
        "STACK_GLOBAL with computed module/name",
        f"The import target is computed at load time ({_desc(mod)}, {_desc(name)}).",
        offset=at, module=_desc(mod), name=_desc(name),
    )  # fmt: skip


def _computed_call(fn: _Call, at: int, res: WalkResult) -> None:
    inner = _desc(fn)
    res.add(
        "scan.pickle.dangerous_callable", Severity.CRITICAL,
        "Pickle calls a computed object",
        f"The result of one call is called again ({inner!r}): a getattr/attrgetter chain.",
        callable=inner, chain=inner, offset=at,
    )  # fmt: skip


def _odd_factory(factory: Any, at: int, res: WalkResult) -> None:
    res.add(
        "scan.pickle.unknown_callable", Severity.HIGH,
        "defaultdict with an unusual factory",
        f"collections.defaultdict factory is {_desc(factory)!r}.",
        callable="collections.defaultdict", chain=_desc(factory), offset=at,
    )  # fmt: skip


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
