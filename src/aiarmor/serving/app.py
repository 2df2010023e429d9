"""The gateway's HTTP API (FastAPI): predict, models, health, metrics, admin and audit routes.

:func:`create_app` wires settings, verified models, the key store, limits, detectors and the
audit log into a :class:`~aiarmor.serving.gateway.Gateway`, and exposes it. No docs UI is
served; the OpenAPI document is public only with ``server.docs = true`` and is always
available to admins at ``/v1/admin/openapi.json``. Anything unexpected becomes a generic 500
(logged server-side), never a traceback; malformed input never gets that far.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from aiarmor._version import __version__
from aiarmor.serving.gateway import Gateway, Outcome, ServedModel, dumps
from aiarmor.serving.middleware import BodyLimit, SecurityHeaders
from aiarmor.serving.predict_route import NAME_PATTERN, PredictRoute
from aiarmor.serving.settings import GatewaySettings

__all__ = ["create_app", "one_line_error", "respond"]

log = logging.getLogger("aiarmor.serving")

ModelName = Annotated[str, Path(json_schema_extra={"pattern": rf"^{NAME_PATTERN}$"})]
"""Documented with its pattern, but not validated by FastAPI: the gateway refuses a name that
cannot be a model's after authenticating the caller (404), so validation never comes first."""
_PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "additionalProperties": False,
                "properties": {
                    "inputs": {"type": "array", "minItems": 1, "items": {"type": "array"}}
                },
            }
        },
        "application/x-npy": {"schema": {"type": "string", "format": "binary"}},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"description": d}
    for s, d in [(401, "Unauthenticated"), (403, "Forbidden"), (429, "Too many requests")]
}


class ScoreItem(BaseModel):
    label: int
    score: float


class PredictResponse(BaseModel):
    model: str
    labels: list[int]
    scores: list[list[ScoreItem]] | None = None


class ModelInfo(BaseModel):
    name: str
    input_shape: list[int]
    dtype: str
    min: float | None
    max: float | None
    max_batch: int
    signed: bool


def respond(outcome: Outcome) -> Response:
    body = b"" if outcome.body is None else dumps(outcome.body)
    media = None if outcome.body is None else "application/json"
    return Response(body, outcome.status, dict(outcome.headers), media_type=media)


def create_app(
    settings: GatewaySettings,
    *,
    audit_log: Any = None,
    models: dict[str, ServedModel] | None = None,
    key_store: Any = None,
    limiter: Any = None,
    detectors: Sequence[Any] | None = None,
    jwt_verifier: Any = None,
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
    _add_routes(app, gw, settings)
    _add_admin_routes(app, gw)
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


def _body_refusal(gw: Gateway) -> Any:
    """How :class:`BodyLimit` refuses a declared body: authenticated first, and audited."""

    async def refuse(headers: list[tuple[bytes, bytes]], status: int, detail: str) -> Any:
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


def one_line_error(errors: Sequence[Any]) -> str:
    """The first validation error as one line: where and what (no input echoed back)."""
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return " ".join(f"{loc + ': ' if loc else ''}{msg}{more}".split())[:300]


def _internal_error(gw: Gateway) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        try:  # still audited (best effort: the failure may be the key store or the log)
            await run_in_threadpool(gw.record_failure, request.scope["headers"])
        except Exception:
            log.exception("the failed request to %s could not be audited", request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    return handler


def _add_routes(app: FastAPI, gw: Gateway, settings: GatewaySettings) -> None:
    @app.post(
        "/v1/models/{name}/predict",
        response_model=PredictResponse,
        openapi_extra={"requestBody": _PREDICT_BODY},
        responses={
            **_ERRORS,
            400: {"description": "Malformed body"},
            404: {"description": "No such model"},
            413: {"description": "Body too large"},
            415: {"description": "Unsupported content type"},
            422: {"description": "Input violates the model's schema"},
        },
    )
    async def predict(name: ModelName, request: Request) -> Response:
        """Predict a batch: JSON ``{"inputs": [...]}`` or one ``application/x-npy`` array.

        Served by :class:`~aiarmor.serving.predict_route.PredictRoute` ahead of the router;
        this route documents it and serves what that handler passes on (a ``root_path`` it
        does not match)."""
        body = await request.body()
        headers = request.scope["headers"]
        ctype = request.headers.get("content-type")
        return respond(await run_in_threadpool(gw.predict, name, headers, ctype, body))

    @app.get("/v1/models", response_model=list[ModelInfo], responses=_ERRORS)
    def list_models(request: Request) -> Any:
        """The models this caller may query, with their input schemas."""
        who = gw.authorize(request.scope["headers"], "predict", "models")
        if isinstance(who, Outcome):
            return respond(who)
        infos = [
            ModelInfo(
                name=n,
                input_shape=list(m.settings.input.shape),
                dtype=m.settings.input.dtype,
                min=m.settings.input.min,
                max=m.settings.input.max,
                max_batch=m.settings.input.max_batch,
                signed=m.signer is not None,
            )
            for n, m in sorted(gw.models.items())
            if "*" in who.models or n in who.models
        ]
        gw.record(identity=who.identity, model="", route="models", body=b"",
                  summary=f'{{"n":{len(infos)}}}', decision="allowed", status=200)  # fmt: skip
        return infos

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "Not ready"}})
    def readyz() -> Response:
        """Readiness: models loaded and the key store reachable."""
        ready = bool(gw.models) and gw.auth.keys.ping()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/metrics", responses=_ERRORS, response_class=Response)
    def metrics(request: Request) -> Response:
        """Prometheus metrics (admin or audit scope unless ``server.public_metrics``)."""
        if settings.server.public_metrics:
            return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)
        who = gw.authorize(request.scope["headers"], ("audit", "admin"), "metrics")
        if isinstance(who, Outcome):
            return respond(who)
        text = generate_latest(gw.metrics.registry)
        gw.record(identity=who.identity, model="", route="metrics", body=b"", summary="",
                  decision="allowed", status=200)  # fmt: skip
        return Response(text, media_type=CONTENT_TYPE_LATEST)


def _add_admin_routes(app: FastAPI, gw: Gateway) -> None:
    from aiarmor.serving.admin import add_admin_routes

    add_admin_routes(app, gw)
