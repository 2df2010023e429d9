"""The gateway's public routes: predict (documented here, served ahead of the router by
:class:`~aiarmor.serving.http.predict_route.PredictRoute`), models, health, readiness, metrics.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import JSONResponse

from aiarmor.serving.http.predict_route import NAME_PATTERN
from aiarmor.serving.http.respond import respond
from aiarmor.serving.pipeline.gateway import Gateway
from aiarmor.serving.pipeline.outcome import Outcome
from aiarmor.serving.settings import GatewaySettings

__all__ = ["ModelInfo", "PredictResponse", "ScoreItem", "add_routes"]

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


def add_routes(app: FastAPI, gw: Gateway, settings: GatewaySettings) -> None:
    """Register predict (documented; served by the ASGI handler), models, health, readiness
    and metrics on ``app``."""

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

        Served by :class:`~aiarmor.serving.http.predict_route.PredictRoute` ahead of the router;
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
