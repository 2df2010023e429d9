"""What one audit record holds: :class:`AuditEntry`, and its validated stored columns
(integers as such, times as integer microseconds, detector scores as canonical JSON text)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiarmor.core.errors import InputError
from aiarmor.serving.audit.chain import MAX_TEXT
from aiarmor.serving.audit.store import FIELDS

__all__ = ["DECISIONS", "AuditEntry"]

DECISIONS = frozenset({"allowed", "denied", "throttled", "blocked", "invalid", "error"})
"""The values :attr:`AuditEntry.decision` may take."""
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One gateway request (or admin call) as it is recorded."""

    time: float
    """Unix seconds (stored with microsecond resolution)."""
    identity: str
    """Key id or JWT subject, never the secret."""
    model: str
    """Model name, or "" for admin calls."""
    route: str
    """E.g. "predict", "admin.keys.create"."""
    input_sha256: str
    """Hex SHA-256 of the request body ("" if none)."""
    output_summary: str
    """Short JSON text: labels / top-k, never full inputs."""
    decision: str
    """One of :data:`DECISIONS`."""
    status: int
    """HTTP status sent."""
    detector_scores: Mapping[str, float]
    """Detector name -> score (non-finite scores are stored as the strings "nan", "inf")."""


def _scores_json(scores: Mapping[str, float]) -> str:
    def num(value: float) -> float | str:
        value = float(value)
        return value if math.isfinite(value) else str(value)

    clean = {str(k): num(v) for k, v in scores.items()}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _text(name: str, value: object, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InputError(f"audit entry: {name} must be a string")
    if "\x00" in value or len(value) > limit:
        raise InputError(f"audit entry: {name} contains NUL or is longer than {limit}")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InputError(f"audit entry: {name} is not valid Unicode") from None
    return value


def _row(entry: AuditEntry) -> dict[str, Any]:
    """The stored columns of ``entry`` (validated)."""
    if entry.decision not in DECISIONS:
        raise InputError(f"audit entry: unknown decision {entry.decision!r}")
    if isinstance(entry.status, bool) or not isinstance(entry.status, int):
        raise InputError("audit entry: status must be an integer")
    if not 100 <= entry.status <= 599 or not math.isfinite(entry.time) or entry.time < 0:
        raise InputError("audit entry: status must be 100-599 and time finite and >= 0")
    sha = _text("input_sha256", entry.input_sha256, 64)
    if sha and not _HEX64.fullmatch(sha):
        raise InputError("audit entry: input_sha256 must be 64 lowercase hex digits or empty")
    row: dict[str, Any] = {f: _text(f, getattr(entry, f)) for f in FIELDS[1:6]}
    row.update(
        time_us=round(entry.time * 1_000_000),
        input_sha256=sha,
        decision=entry.decision,
        status=entry.status,
        detector_scores=_scores_json(entry.detector_scores),
    )
    return row
