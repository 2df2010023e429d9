"""Build a Gateway's parts from settings: models, key store, JWT, limiter, detectors, audit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiarmor.core.errors import ConfigError
from aiarmor.serving.audit.sink import AuditSink
from aiarmor.serving.pipeline.auth import Authenticator, JWTVerifier, KeyStore
from aiarmor.serving.pipeline.detect import QueryDetector, build_detectors
from aiarmor.serving.pipeline.gateway import Gateway, ServedModel
from aiarmor.serving.pipeline.keystore import SQLKeyStore
from aiarmor.serving.pipeline.limits import Limiter, build_limiter
from aiarmor.serving.settings import GatewaySettings, read_secret

if TYPE_CHECKING:
    from aiarmor.serving.audit.log import AuditLog

__all__ = ["build_gateway", "build_models", "check_continuity", "open_audit_log", "open_key_store"]


def open_key_store(settings: GatewaySettings) -> SQLKeyStore:
    """The configured key store, keyed with the server secret."""
    auth = settings.auth
    secret = read_secret(auth.server_secret, settings.base_dir, what="auth.server_secret")
    return SQLKeyStore(auth.key_store, secret, cache_seconds=auth.key_cache_seconds)


def open_audit_log(settings: GatewaySettings) -> AuditLog:
    """The configured audit log."""
    from aiarmor.serving.audit.log import AuditLog

    key = read_secret(settings.audit.key, settings.base_dir, what="audit.key")
    return AuditLog(settings.audit.url, key)


def check_continuity(settings: GatewaySettings, audit: AuditLog, keys: KeyStore) -> None:
    """Refuse to serve on an audit log that is not the one this deployment has been writing:
    an empty log while the key store already holds keys (key changes are audited, so their
    log is never empty) or while checkpoints are configured, or a log that does not extend
    a configured checkpoint. Without this, a wrong ``audit.url`` silently starts a new
    chain that verifies as intact."""
    from aiarmor.serving.audit.log import read_checkpoint

    checkpoints = [read_checkpoint(p) for p in settings.audit.checkpoints]
    where = f"audit log {_shown(settings.audit.url)}"
    if audit.is_empty():
        if checkpoints:
            raise ConfigError(f"{where} is empty, but audit.checkpoints says it holds "
                              f"records: wrong audit.url, or the log was replaced")  # fmt: skip
        if keys.list():
            raise ConfigError(f"{where} is empty, but the key store already holds keys: "
                              "wrong audit.url or auth.key_store? (relative paths resolve "
                              "against the config file's folder)")  # fmt: skip
    problems = audit.extends(checkpoints)
    if problems:
        raise ConfigError(f"{where} does not extend its checkpoints: {problems[0]}")


def _shown(url: str) -> str:
    """A database URL fit for a message: never its password."""
    import sqlalchemy as sa

    try:
        return str(sa.engine.make_url(url).render_as_string(hide_password=True))
    except (sa.exc.ArgumentError, ValueError):
        return "(unparsable URL)"


def build_jwt(settings: GatewaySettings) -> JWTVerifier | None:
    """The JWT verifier, if ``[auth.jwt]`` is configured."""
    cfg = settings.auth.jwt
    if cfg is None:
        return None
    if cfg.secret is not None:
        key: str | bytes = read_secret(
            cfg.secret, settings.base_dir, what="auth.jwt.secret", min_bytes=32
        )
    elif cfg.public_key_file is not None:
        path = settings.resolve(cfg.public_key_file)
        try:
            key = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"auth.jwt.public_key_file: cannot read {path}: {exc}") from None
    else:
        raise ConfigError("auth.jwt needs public_key_file or secret")
    return JWTVerifier(cfg, key)


def build_models(settings: GatewaySettings) -> dict[str, ServedModel]:
    """Every configured model, signature-verified (see :mod:`.artifacts`), with its own
    per-input detectors."""
    from aiarmor.serving.artifacts import load_models
    from aiarmor.serving.pipeline.detect import build_input_detectors

    served = {}
    for name, loaded in load_models(settings).items():
        model = settings.models_by_name[name]
        detectors = build_input_detectors(model, loaded.target, settings.base_dir)
        served[name] = ServedModel(model, loaded.target, loaded.signer, detectors)
    return served


def build_gateway(
    settings: GatewaySettings,
    *,
    audit_log: AuditSink | None = None,
    models: dict[str, ServedModel] | None = None,
    key_store: KeyStore | None = None,
    limiter: Limiter | None = None,
    detectors: Sequence[QueryDetector] | None = None,
    jwt_verifier: JWTVerifier | None = None,
) -> Gateway:
    """A Gateway; every part not given is built from ``settings``."""
    if detectors is None:
        detectors = build_detectors(settings.detection.config)
    keys = key_store or open_key_store(settings)
    if audit_log is None:  # the configured log: it must be this deployment's
        audit_log = open_audit_log(settings)
        check_continuity(settings, audit_log, keys)
    return Gateway(
        models=models if models is not None else build_models(settings),
        auth=Authenticator(keys, jwt_verifier or build_jwt(settings)),
        limiter=limiter or build_limiter(settings.limits),
        audit=audit_log,
        detectors=detectors,
        detection=settings.detection,
    )
