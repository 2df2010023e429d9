"""Pickle analysis by an opcode-level walker that never executes or imports anything.

The walker decodes opcodes by hand (so a truncated or malformed stream still yields what came
before the break, with offsets), simulates the stack and memo symbolically, resolves every
GLOBAL / STACK_GLOBAL / INST / OBJ / NEWOBJ(_EX) / REDUCE / BUILD / EXT reference, follows
nested pickles (constants handed to loaders, base64/hex blobs) and judges each callable
against :mod:`aiarmor.modelfiles.pickle_policy`. ``pickle.load*`` is never called.

Entry points: :func:`looks_like_pickle`, :func:`analyze_pickle`, :func:`analyze_npy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiarmor.core.findings import Finding
from aiarmor.modelfiles import pickle_npy, pickle_walk

__all__ = ["PickleAnalysis", "analyze_npy", "analyze_pickle", "looks_like_pickle"]


@dataclass(frozen=True, slots=True)
class PickleAnalysis:
    """What the walker found in one pickle-bearing blob."""

    format: str
    """``"pickle"``, ``"pytorch-legacy"``, ``"joblib"``, ``"npy"`` or ``"npy-object"``."""
    findings: tuple[Finding, ...]
    """Every finding, most severe first."""
    details: Mapping[str, Any]
    """Inventory: streams, opcode count, protocols, callables (sorted), nested pickles, ..."""


def looks_like_pickle(head: bytes) -> bool:
    """Cheap content sniff: PROTO 2-5, or a protocol 0/1 opening that decodes as opcodes."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    return pickle_walk.looks_like_old_pickle(head)


def analyze_pickle(data: bytes, *, path: str) -> PickleAnalysis:
    """Walk every stream in ``data`` (raw pickle, legacy torch.save, uncompressed joblib)."""
    result = pickle_walk.walk(data, path=path, depth=0)
    return PickleAnalysis(result.format, _sorted(result.findings), result.details)


def analyze_npy(data: bytes, *, path: str) -> PickleAnalysis:
    """Check a ``.npy`` header by hand (never ``np.load``); analyze object-array pickles."""
    header, bad = pickle_npy.parse_npy_header(data, path=path)
    if header is None:
        return PickleAnalysis("npy", _sorted(bad), {})
    details: dict[str, Any] = {"descr": repr(header.descr), "shape": list(header.shape)}
    details["fortran_order"] = header.fortran_order
    if header.has_object:
        inner = pickle_walk.walk(
            data[header.data_offset :], path=path, depth=0, base=header.data_offset
        )
        details["pickle"] = dict(inner.details)
        return PickleAnalysis("npy-object", _sorted([*bad, *inner.findings]), details)
    return PickleAnalysis("npy", _sorted(bad), details)


def _sorted(findings: list[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda f: -int(f.severity)))
