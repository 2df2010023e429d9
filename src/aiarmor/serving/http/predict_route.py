"""``POST /v1/models/{name}/predict`` as a plain ASGI handler, ahead of FastAPI's router.

Predict is the gateway's hot path: per request, FastAPI's routing, dependency solving,
``Request`` objects and exception middleware cost more CPU than the whole security pipeline
(measured with ``bench/bench_gateway.py``), and so does a hop to a worker thread. This handler
matches the route itself, reads the body under the size limit, runs
:meth:`Gateway.predict_async` (the pipeline on the event loop, the audit commit awaited from
the audit writer thread) and writes the response; it sits inside the security-headers
middleware, so every answer carries them. The FastAPI route of the same path stays declared for
the OpenAPI document and serves any request this handler passes on (an app mounted under a
``root_path``).

Oversized bodies (declared or streamed) are refused here with 413, after authentication, so
they are audited like every other refusal.
"""

from __future__ import annotations

import logging
import re

from anyio import to_thread

from aiarmor.serving.http.middleware import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    declared_length_problem,
)
from aiarmor.serving.pipeline.gateway import Gateway
from aiarmor.serving.pipeline.outcome import Outcome, dumps
from aiarmor.serving.settings import MODEL_NAME

__all__ = ["NAME_PATTERN", "PredictRoute"]

log = logging.getLogger("aiarmor.serving")

NAME_PATTERN = MODEL_NAME
"""Model names the gateway accepts in paths (and in its configuration)."""
_PATH = re.compile(r"/v1/models/([^/]+)/predict")
"""Any name: one that cannot be a model's is refused after authentication, and audited."""
_JSON = (b"content-type", b"application/json")
_INTERNAL = Outcome(500, {"detail": "internal error"})


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


class _TooLarge(Exception):
    """The streamed body passed the limit."""


class PredictRoute:
    """Serve predict requests for ``gateway``; pass everything else to ``app``."""

    def __init__(self, app: ASGIApp, *, gateway: Gateway, max_bytes: int) -> None:
        self.app = app
        self.gateway = gateway
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        # a root_path (mounted app) is not matched: FastAPI's route of this path serves it
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        name, headers = match.group(1), scope["headers"]
        try:
            outcome = await self._handle(name, headers, receive)
        except _Disconnected:
            return
        except Exception:  # never a traceback to the client
            log.exception("internal error on POST %s", scope["path"])
            outcome = _INTERNAL
        await _respond(send, outcome)

    async def _handle(
        self, name: str, headers: list[tuple[bytes, bytes]], receive: Receive
    ) -> Outcome:
        gw = self.gateway
        lengths = [v for k, v in headers if k.lower() == b"content-length"]
        problem = declared_length_problem(lengths, self.max_bytes)
        if problem is None:
            try:
                body = await _read_body(receive, self.max_bytes)
            except _TooLarge:
                problem = 413, f"request body larger than {self.max_bytes} bytes"
        if problem is not None:
            return await to_thread.run_sync(gw.refuse_body, name, headers, *problem)
        ctype = next(
            (v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), None
        )
        return await gw.predict_async(name, headers, ctype, body)


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, outcome: Outcome) -> None:
    body = b"" if outcome.body is None else dumps(outcome.body)
    headers = [(b"content-length", str(len(body)).encode())]
    if outcome.body is not None:
        headers.append(_JSON)
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers.items()
    ]
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
