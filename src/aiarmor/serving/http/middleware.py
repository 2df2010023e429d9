"""Plain ASGI middleware: a streaming body-size limit and security headers on every response."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

__all__ = [
    "ASGIApp",
    "BodyLimit",
    "BodyTooLarge",
    "Receive",
    "Refuse",
    "Scope",
    "SecurityHeaders",
    "Send",
    "declared_length_problem",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit (a 413 for the client)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


Refuse = Callable[[list[tuple[bytes, bytes]], int, str], Awaitable[tuple[int, Any, Any]]]
"""(headers, status, detail) -> (status, JSON body, headers) of the answer actually sent: the
gateway authenticates the caller first and audits the refusal."""


class BodyLimit:
    """Refuse bodies over ``max_bytes`` without buffering them.

    A malformed or over-the-limit declared ``Content-Length`` is refused before the app runs
    (and before the body is read): through ``refuse``, which authenticates and audits, when
    given. A streamed (chunked) body is counted as the app reads it, and the read that
    crosses the limit raises :class:`BodyTooLarge`, which the app turns into a 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, refuse: Refuse | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = [v for k, v in scope["headers"] if k.lower() == b"content-length"]
        problem = declared_length_problem(lengths, self.max_bytes)
        if problem is not None:
            if self.refuse is None:
                await _plain_error(send, *problem)
                return
            status, body, headers = await self.refuse(scope["headers"], *problem)
            await _plain_error(send, status, body, headers)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


def declared_length_problem(lengths: list[bytes], limit: int) -> tuple[int, str] | None:
    """(status, detail) if the ``Content-Length`` values are malformed or over ``limit``."""
    if not lengths:
        return None
    if len(lengths) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
        return 400, "bad Content-Length header"
    if int(lengths[0]) > limit:
        return 413, f"request body larger than {limit} bytes"
    return None


async def _plain_error(send: Send, status: int, detail: str | Any, extra: Any = None) -> None:
    """A JSON answer (``{"detail": detail}``, or ``detail`` itself when it is not a string)
    that closes the connection (the body was not read)."""
    body = json.dumps({"detail": detail} if isinstance(detail, str) else detail).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Add no-store, nosniff, frame-deny, a ``default-src 'none'`` CSP and friends."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.extra = list(SECURITY_HEADERS)
        if hsts:
            self.extra.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.extra if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
