"""A pipeline :class:`~aiarmor.serving.pipeline.outcome.Outcome` as a Starlette response, and
validation errors as one line: what every route of the HTTP surface answers with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

from aiarmor.serving.pipeline.outcome import Outcome, dumps

__all__ = ["one_line_error", "respond"]


def respond(outcome: Outcome) -> Response:
    """The response carrying ``outcome`` (JSON body, or none)."""
    body = b"" if outcome.body is None else dumps(outcome.body)
    media = None if outcome.body is None else "application/json"
    return Response(body, outcome.status, dict(outcome.headers), media_type=media)


def one_line_error(errors: Sequence[Mapping[str, Any]]) -> str:
    """The first validation error as one line: where and what (no input echoed back)."""
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return " ".join(f"{loc + ': ' if loc else ''}{msg}{more}".split())[:300]
