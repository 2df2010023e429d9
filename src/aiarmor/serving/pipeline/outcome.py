"""What the pipeline hands the web layer: an :class:`Outcome` (status, JSON body, headers),
the generic refusals, and :func:`dumps`, the one JSON encoder of responses."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiarmor.serving.audit.log import AuditEntry
from aiarmor.serving.pipeline.limits import LimitDecision

__all__ = [
    "FORBIDDEN",
    "INTERNAL",
    "MAX_RETRY_AFTER",
    "NON_FINITE",
    "NO_SUCH_MODEL",
    "UNAUTHENTICATED",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "Decision",
    "Outcome",
    "dumps",
    "too_many",
]

UNAUTHORIZED = {"detail": "unauthorized"}
FORBIDDEN = {"detail": "forbidden"}
MAX_RETRY_AFTER = 86_400


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the web layer sends back."""

    status: int
    body: Mapping[str, Any] | None
    headers: Mapping[str, str] = field(default_factory=dict)


NO_SUCH_MODEL = Outcome(404, {"detail": "no such model"})
INTERNAL = Outcome(500, {"detail": "internal error"})
UNAUTHENTICATED = Outcome(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
NON_FINITE = "the model's output for these inputs is not finite (NaN or infinity)"
UNAVAILABLE = Outcome(503, {"detail": "service unavailable"}, {"Retry-After": "1"})


@dataclass(frozen=True, slots=True)
class Decision:
    """An outcome and the audit entry that must be committed before the outcome is sent."""

    outcome: Outcome
    entry: AuditEntry


def too_many(decision: LimitDecision) -> Outcome:
    """The 429 of a refused limit, with a ``Retry-After`` of at least a second."""
    retry = decision.retry_after
    seconds = MAX_RETRY_AFTER if math.isinf(retry) else max(1, math.ceil(retry))
    return Outcome(429, {"detail": "too many requests"}, {"Retry-After": str(seconds)})


def dumps(body: Mapping[str, Any] | None) -> bytes:
    """Compact, valid JSON for responses: NaN or infinity raise instead of becoming tokens
    no JSON parser accepts (the pipeline refuses such answers before they get here)."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
