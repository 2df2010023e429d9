"""The gateway's HTTP API (FastAPI): predict, models, health, metrics, admin and audit routes.

:func:`create_app` wires settings, verified models, the key store, limits, detectors and the
audit log into a :class:`~aiarmor.serving.pipeline.gateway.Gateway`, and exposes it: the
public routes (:mod:`.routes`), the admin and audit routes (:mod:`.admin`), the predict hot
path (:mod:`.predict_route`) and the middleware (:mod:`.middleware`). No docs UI is served;
the OpenAPI document is public only with ``server.docs = true`` and is always available to
admins at ``/v1/admin/openapi.json``. Anything unexpected becomes a generic 500 (logged
server-side), never a traceback; malformed input never gets that far.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from aiarmor._version import __version__
from aiarmor.serving.audit.sink import AuditSink
from aiarmor.serving.http.admin import add_admin_routes
from aiarmor.serving.http.middleware import BodyLimit, Refuse, SecurityHeaders
from aiarmor.serving.http.predict_route import PredictRoute
from aiarmor.serving.http.respond import one_line_error, respond
from aiarmor.serving.http.routes import add_routes
from aiarmor.serving.pipeline.auth import JWTVerifier, KeyStore
from aiarmor.serving.pipeline.detect import QueryDetector
from aiarmor.serving.pipeline.gateway import Gateway, ServedModel
from aiarmor.serving.pipeline.limits import Limiter
from aiarmor.serving.settings import GatewaySettings

__all__ = ["create_app"]

log = logging.getLogger("aiarmor.serving")

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


def create_app(
    settings: GatewaySettings,
    *,
    audit_log: AuditSink | None = None,
    models: dict[str, ServedModel] | None = None,
    key_store: KeyStore | None = None,
    limiter: Limiter | None = None,
    detectors: Sequence[QueryDetector] | None = None,
    jwt_verifier: JWTVerifier | None = None,
) -> FastAPI:
    """The ASGI app; anything not passed in is built from ``settings``."""
    from aiarmor.serving.wiring import build_gateway

    gw = build_gateway(
        settings,
        audit_log=audit_log,
        models=models,
        key_store=key_store,
        limiter=limiter,
        detectors=detectors,
        jwt_verifier=jwt_verifier,
    )
    app = FastAPI(
        title="aiarmor gateway",
        version=__version__,
        debug=False,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.server.docs else None,
    )
    app.state.gateway = gw
    app.state.settings = settings
    add_routes(app, gw, settings)
    add_admin_routes(app, gw)
    _document_models(app, sorted(gw.models))
    _add_refusals(app, gw)
    app.add_exception_handler(Exception, _internal_error(gw))
    limit = settings.server.max_body_bytes
    app.add_middleware(BodyLimit, max_bytes=limit, refuse=_body_refusal(gw))
    app.add_middleware(PredictRoute, gateway=gw, max_bytes=limit)  # the hot path, outside
    app.add_middleware(SecurityHeaders, hsts=settings.server.tls_cert is not None)
    return app


def _document_models(app: FastAPI, names: list[str]) -> None:
    """List the served model names in the OpenAPI document's ``{name}`` parameter."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = original()
            for param in doc["paths"]["/v1/models/{name}/predict"]["post"]["parameters"]:
                if param["name"] == "name" and names:
                    param["schema"]["enum"] = names
        return app.openapi_schema or original()

    app.openapi = openapi  # type: ignore[method-assign]


def _body_refusal(gw: Gateway) -> Refuse:
    """How :class:`BodyLimit` refuses a declared body: authenticated first, and audited."""

    async def refuse(
        headers: list[tuple[bytes, bytes]], status: int, detail: str
    ) -> tuple[int, Any, Any]:
        outcome = await run_in_threadpool(gw.refuse, headers, "request", status, detail)
        return outcome.status, outcome.body, outcome.headers

    return refuse


def _add_refusals(app: FastAPI, gw: Gateway) -> None:
    """What FastAPI would refuse on its own (no such route, wrong method, a body over the
    limit while streaming, parameters it validates): the caller is authenticated first and
    every such request is audited; the answer is one line, never pydantic's details."""

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        detail = str(getattr(exc, "detail", "")) or "bad request"
        route = "unrouted" if status in (404, 405) else "request"
        if status == 404:
            detail = "no such route"
        outcome = await run_in_threadpool(
            gw.refuse, request.scope["headers"], route, status, detail
        )
        return respond(outcome)

    async def invalid(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        detail = one_line_error(errors)
        headers = request.scope["headers"]
        return respond(await run_in_threadpool(gw.refuse, headers, "request", 422, detail))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def _internal_error(gw: Gateway) -> ErrorHandler:
    async def handler(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        try:  # still audited (best effort: the failure may be the key store or the log)
            await run_in_threadpool(gw.record_failure, request.scope["headers"])
        except Exception:
            log.exception("the failed request to %s could not be audited", request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    return handler
