"""The gateway's TOML configuration, validated once at start-up (pydantic, strict).

Unknown keys are rejected, every value is type-checked, and a bad file becomes one
:class:`~aiarmor.core.errors.ConfigError` line. Secrets (server HMAC secret, audit-log key,
JWT HMAC secret, encryption master keys) are never written inline: each is a
``{ file = "..." }`` or ``{ env = "NAME" }`` table, read by :func:`read_secret` and never
logged. Relative paths are resolved against the config file's folder. See docs/serving.md
for a complete example.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aiarmor.core.errors import ConfigError

# the sections, re-exported: this module stays the one import path of the configuration
from aiarmor.serving.sections import ACTIONS as ACTIONS
from aiarmor.serving.sections import DTYPES as DTYPES
from aiarmor.serving.sections import JWT_ALGORITHMS as JWT_ALGORITHMS
from aiarmor.serving.sections import MODEL_NAME as MODEL_NAME
from aiarmor.serving.sections import SCOPES as SCOPES
from aiarmor.serving.sections import (
    AuditSettings,
    AuthSettings,
    DetectionSettings,
    GatewaySettings,
    InputSchema,
    JWTSettings,
    LimitSettings,
    ModelSettings,
    OutputPolicy,
    Secret,
    ServerSettings,
)
from aiarmor.serving.sections import StripSettings as StripSettings

__all__ = [
    "AuditSettings",
    "AuthSettings",
    "DetectionSettings",
    "GatewaySettings",
    "InputSchema",
    "JWTSettings",
    "LimitSettings",
    "ModelSettings",
    "OutputPolicy",
    "Secret",
    "ServerSettings",
    "load_settings",
    "read_secret",
    "sqlite_url",
]

log = logging.getLogger(__name__)


def load_settings(path: Path | str) -> GatewaySettings:
    """Parse and validate ``path``; any problem is one ConfigError line."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if "base_dir" in raw:
        raise ConfigError(f"{path}: unknown key 'base_dir'")
    return parse_settings(raw, base_dir=path.resolve().parent, where=str(path))


def parse_settings(
    raw: dict[str, Any], *, base_dir: Path, where: str = "config"
) -> GatewaySettings:
    """Validate an already-parsed TOML document; every relative path in it (files, and the
    files of SQLite URLs) is made absolute against ``base_dir``."""
    try:
        settings = _absolute(GatewaySettings.model_validate({**raw, "base_dir": base_dir}))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{where}: {loc}: {msg}{more}") from None
    if settings.server.allow_unsigned:
        log.warning("allow_unsigned is ON: models without a valid signature will be served")
    if (
        settings.server.host not in ("127.0.0.1", "::1", "localhost")
        and not settings.server.tls_cert
    ):
        log.warning("listening on %s without TLS: put a TLS proxy in front", settings.server.host)
    return settings


def _absolute(settings: GatewaySettings) -> GatewaySettings:
    """``settings`` with every relative path resolved against its ``base_dir``, so nothing
    downstream depends on the working directory the gateway was started from."""
    base = settings.base_dir

    def path(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    def fix(model: BaseModel, **paths: Any) -> Any:
        update = {k: v for k, v in paths.items() if v is not None}
        return model.model_copy(update=update) if update else model

    def secret(sec: Secret | None) -> Secret | None:
        return None if sec is None else fix(sec, file=path(sec.file))

    server = fix(settings.server, tls_cert=path(settings.server.tls_cert),
                 tls_key=path(settings.server.tls_key))  # fmt: skip
    auth = settings.auth
    jwt = auth.jwt and fix(auth.jwt, public_key_file=path(auth.jwt.public_key_file),
                           secret=secret(auth.jwt.secret))  # fmt: skip
    auth = auth.model_copy(update={"key_store": sqlite_url(auth.key_store, base), "jwt": jwt,
                                   "server_secret": secret(auth.server_secret)})  # fmt: skip
    audit = settings.audit.model_copy(
        update={
            "url": sqlite_url(settings.audit.url, base),
            "key": secret(settings.audit.key),
            "checkpoints": tuple(path(p) or p for p in settings.audit.checkpoints),
        }
    )
    models = tuple(_absolute_model(m, base) for m in settings.models)
    update = {"server": server, "auth": auth, "audit": audit, "models": models}
    return settings.model_copy(update=update)


def _absolute_model(model: ModelSettings, base: Path) -> ModelSettings:
    def path(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    update: dict[str, Any] = {
        "path": path(model.path),
        "signature": path(model.signature),
        "public_key": path(model.public_key),
    }
    if model.master_key is not None and model.master_key.file is not None:
        update["master_key"] = model.master_key.model_copy(
            update={"file": path(model.master_key.file)}
        )
    if model.strip is not None:
        update["strip"] = model.strip.model_copy(update={"reference": path(model.strip.reference)})
    head, sep, attr = (model.spec or "").rpartition(":")
    if sep and head.endswith(".py"):
        update["spec"] = f"{path(Path(head))}:{attr}"
    return model.model_copy(update=update)


def sqlite_url(url: str, base: Path) -> str:
    """``url`` with a relative SQLite file made absolute against ``base`` (other databases,
    in-memory and ``uri=true`` SQLite URLs unchanged)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url  # refused, with its own message, where it is opened
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if "uri" in parsed.query or database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)


def read_secret(secret: Secret, base_dir: Path, *, what: str, min_bytes: int = 16) -> bytes:
    """The secret's bytes; ConfigError (naming the source, never the value) if unusable."""
    if secret.env is not None:
        value = os.environ.get(secret.env, "").encode()
        where = f"environment variable {secret.env}"
    elif secret.file is not None:
        file = secret.file if secret.file.is_absolute() else base_dir / secret.file
        where = f"file {file}"
        try:
            value = file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {where}: {exc.strerror or exc}") from None
    else:
        raise ConfigError(f"{what}: no secret source")
    if len(value) < min_bytes:
        raise ConfigError(f"{what}: {where} is missing or shorter than {min_bytes} bytes")
    return value
