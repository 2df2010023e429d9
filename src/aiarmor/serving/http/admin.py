"""Admin routes (API keys, the OpenAPI document) and audit routes (query, verify).

Every route authenticates and authorizes the caller before it looks at the body, the path
or the query: FastAPI validates nothing here (parameters are declared for the OpenAPI
document only), so an anonymous caller gets the generic 401 whatever it sends, and an
authorized one a one-line 422 or 404, audited like every other request.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiarmor.core.errors import ConfigError
from aiarmor.serving.http.respond import one_line_error, respond
from aiarmor.serving.pipeline.auth import ApiKeyInfo, Principal
from aiarmor.serving.pipeline.gateway import Gateway
from aiarmor.serving.pipeline.outcome import Outcome

__all__ = ["AuditQuery", "KeyCreate", "KeyRecord", "NewKey", "Verification", "add_admin_routes"]

_KEY_ID = re.compile(r"[0-9a-f]{12}")
KeyId = Annotated[str, Path(json_schema_extra={"pattern": r"^[0-9a-f]{12}$"})]
"""Documented with its pattern; checked after authentication (an id that cannot exist: 404)."""
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Unauthenticated"},
    403: {"description": "Forbidden"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {**_ERRORS, 404: {"description": "No such key"}}


class KeyCreate(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")
    scopes: list[str] = Field(min_length=1, max_length=3)
    models: list[str] = Field(default=["*"], min_length=1, max_length=100)
    role: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    label: str = Field(default="", max_length=200)


class KeyRecord(BaseModel):
    """A stored key (never its secret or hash)."""

    id: str
    scopes: list[str]
    models: list[str]
    role: str
    label: str
    created: float
    revoked: bool


class NewKey(KeyRecord):
    """A created or rotated key."""

    key: str = Field(description="The API key. Shown once; only its keyed hash is stored.")


class AuditQuery(BaseModel):
    """The audit log's query parameters (validated after authentication)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    identity: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=64)
    since: float | None = Field(default=None, ge=0, le=1e11)
    limit: int = Field(default=100, ge=1, le=1000)


_AUDIT_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in [
        ("identity", {"type": "string", "maxLength": 200}),
        ("model", {"type": "string", "maxLength": 64}),
        ("since", {"type": "number", "minimum": 0, "maximum": 1e11}),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
    ]
]
_KEY_CREATE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": KeyCreate.model_json_schema()}},
}


class Verification(BaseModel):
    """The audit log's integrity check."""

    ok: bool
    count: int
    problems: list[str]


def _record(info: ApiKeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "scopes": list(info.scopes),
        "models": list(info.models),
        "role": info.role,
        "label": info.label,
        "created": info.created,
        "revoked": info.revoked,
    }


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, allow_nan=False), status, media_type="application/json")


def _problem(exc: ValidationError) -> str:
    return one_line_error(exc.errors(include_input=False))


def add_admin_routes(app: FastAPI, gw: Gateway) -> None:
    """Register the admin and audit routes on ``app``."""

    def admin(request: Request, route: str) -> Principal | Response:
        who = gw.authorize(request.scope["headers"], "admin", route)
        return respond(who) if isinstance(who, Outcome) else who

    def audited(who: Principal, route: str, status: int, summary: str = "") -> None:
        decision = "allowed" if status < 400 else "invalid"
        gw.record(
            identity=who.identity,
            model="",
            route=route,
            body=b"",
            summary=summary,
            decision=decision,
            status=status,
        )

    @app.post(
        "/v1/admin/keys",
        status_code=201,
        response_model=NewKey,
        responses={**_ERRORS, 422: {"description": "Invalid key request"}},
        openapi_extra={"requestBody": _KEY_CREATE_BODY},
    )
    async def create_key(request: Request) -> Response:
        """Create an API key; the key is in this response only."""
        who = await run_in_threadpool(admin, request, "admin.keys.create")
        if isinstance(who, Response):
            return who
        try:  # the body is read only once the caller is known to be an admin
            spec = KeyCreate.model_validate_json(await request.body())
        except ValidationError as exc:
            detail = _problem(exc)
            await run_in_threadpool(audited, who, "admin.keys.create", 422)
            return _json(422, {"detail": detail})
        return await run_in_threadpool(_create, who, spec)

    def _create(who: Principal, spec: KeyCreate) -> Response:
        try:
            key, info = gw.auth.keys.create(
                spec.scopes, spec.models, role=spec.role, label=spec.label
            )
        except ConfigError as exc:
            audited(who, "admin.keys.create", 422)
            return _json(422, {"detail": str(exc)})
        audited(who, "admin.keys.create", 201, json.dumps({"id": info.id}))
        return _json(201, {**_record(info), "key": key})

    @app.get("/v1/admin/keys", response_model=list[KeyRecord], responses=_ERRORS)
    def list_keys(request: Request) -> Response:
        """Every key's record (no secrets)."""
        who = admin(request, "admin.keys.list")
        if isinstance(who, Response):
            return who
        records = [_record(i) for i in gw.auth.keys.list()]
        audited(who, "admin.keys.list", 200)  # after the work: a failure is audited as such
        return _json(200, records)

    @app.delete("/v1/admin/keys/{key_id}", status_code=204, responses=_NOT_FOUND)
    def revoke_key(request: Request, key_id: KeyId) -> Response:
        """Revoke a key at once."""
        who = admin(request, "admin.keys.revoke")
        if isinstance(who, Response):
            return who
        try:
            if not _KEY_ID.fullmatch(key_id):
                raise KeyError(key_id)
            gw.auth.keys.revoke(key_id)
        except KeyError:
            audited(who, "admin.keys.revoke", 404, json.dumps({"id": key_id}))
            return _json(404, {"detail": "no such active key"})
        audited(who, "admin.keys.revoke", 204, json.dumps({"id": key_id}))
        return Response(status_code=204)

    @app.post("/v1/admin/keys/{key_id}/rotate", response_model=NewKey, responses=_NOT_FOUND)
    def rotate_key(request: Request, key_id: KeyId) -> Response:
        """A new secret for a key; the old one stops working at once."""
        who = admin(request, "admin.keys.rotate")
        if isinstance(who, Response):
            return who
        try:
            if not _KEY_ID.fullmatch(key_id):
                raise KeyError(key_id)
            key, info = gw.auth.keys.rotate(key_id)
        except KeyError:
            audited(who, "admin.keys.rotate", 404, json.dumps({"id": key_id}))
            return _json(404, {"detail": "no such active key"})
        audited(who, "admin.keys.rotate", 200, json.dumps({"id": key_id}))
        return _json(200, {**_record(info), "key": key})

    @app.get("/v1/admin/openapi.json", responses=_ERRORS)
    def openapi_for_admins(request: Request) -> Response:
        """The OpenAPI document (always available to admins)."""
        who = admin(request, "admin.openapi")
        if isinstance(who, Response):
            return who
        doc = app.openapi()
        audited(who, "admin.openapi", 200)
        return _json(200, doc)

    _add_audit_routes(app, gw)


def _add_audit_routes(app: FastAPI, gw: Gateway) -> None:
    @app.get(
        "/v1/audit/log",
        responses={**_ERRORS, 422: {"description": "Invalid query"}},
        openapi_extra={"parameters": _AUDIT_PARAMETERS},
    )
    def audit_log(request: Request) -> Response:
        """Audit entries, newest first, filtered by identity, model and time."""
        who = gw.authorize(request.scope["headers"], "audit", "audit.log")
        if isinstance(who, Outcome):
            return respond(who)
        try:
            q = AuditQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            detail = _problem(exc)
            gw.record(identity=who.identity, model="", route="audit.log", body=b"",
                      summary="", decision="invalid", status=422)  # fmt: skip
            return _json(422, {"detail": detail})
        rows = gw.audit.query(identity=q.identity, model=q.model, since=q.since, limit=q.limit)
        gw.record(
            identity=who.identity,
            model="",
            route="audit.log",
            body=b"",
            summary=json.dumps({"rows": len(rows)}),
            decision="allowed",
            status=200,
        )
        return _json(200, rows)

    @app.get("/v1/audit/verify", response_model=Verification, responses=_ERRORS)
    def audit_verify(request: Request) -> Response:
        """Check the audit log's HMAC chain end to end."""
        who = gw.authorize(request.scope["headers"], "audit", "audit.verify")
        if isinstance(who, Outcome):
            return respond(who)
        result = gw.audit.verify()
        gw.record(
            identity=who.identity,
            model="",
            route="audit.verify",
            body=b"",
            summary=json.dumps({"ok": result.ok}),
            decision="allowed",
            status=200,
        )
        return _json(200, {"ok": result.ok, "count": result.count, "problems": result.problems})
