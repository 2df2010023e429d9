"""Who is calling: API keys from a key store, or JWT bearer tokens; and what they may do.

API keys look like ``aiarmor_<id>_<secret>``: a 12-hex-digit public id and 256 random bits
(:mod:`secrets`). The key is shown once, on creation or rotation; the store keeps only
``HMAC-SHA256(server_secret, key)`` and compares it with :func:`hmac.compare_digest`, so a
leaked key-store database reveals no usable key. Keys carry scopes (``predict``, ``admin``,
``audit``), the models they may query (``*`` for all) and an output-hardening role.

JWT bearer tokens are verified with PyJWT against the configured key, with an algorithm
allowlist (``none`` can never be configured), and ``exp``, ``nbf``, ``iss``, ``aud`` and
``sub`` required. Claims: ``scope`` (space-separated or a list), ``models`` (list or ``*``),
``role``.

Every failure is :class:`Unauthenticated` (-> bare 401) or :class:`Forbidden` (-> bare 403);
the reason is kept for the server log and the audit trail only. The SQL key store itself
is :class:`~aiarmor.serving.pipeline.keystore.SQLKeyStore`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from aiarmor.core.errors import AiarmorError, ConfigError
from aiarmor.serving.settings import SCOPES, JWTSettings

__all__ = [
    "ApiKeyInfo",
    "Authenticator",
    "Forbidden",
    "JWTVerifier",
    "KeyStore",
    "Principal",
    "Unauthenticated",
]

_MAX_TOKEN = 8192


class Unauthenticated(AiarmorError):
    """No valid credential (HTTP 401)."""


class Forbidden(AiarmorError):
    """A valid credential without the needed scope or model access (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    identity: str
    """``key:<id>`` or ``jwt:<sub>``: what limits, detectors and the audit log are keyed by."""
    scopes: frozenset[str]
    models: frozenset[str]
    """Model names this caller may query; ``*`` means all."""
    role: str
    """Output-hardening role (``default`` unless the key or token says otherwise)."""

    def require(self, scope: str, model: str | None = None) -> None:
        """Raise Forbidden unless the caller has ``scope`` (and access to ``model``)."""
        if scope not in self.scopes:
            raise Forbidden(f"{self.identity} lacks scope {scope}")
        if model is not None and "*" not in self.models and model not in self.models:
            raise Forbidden(f"{self.identity} may not query model {model}")


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A stored key's public record (never the key or its hash)."""

    id: str
    scopes: tuple[str, ...]
    models: tuple[str, ...]
    role: str
    label: str
    created: float
    revoked: bool


class KeyStore(Protocol):
    """What the gateway needs of a key store: authenticate presented keys, manage keys for
    the admin routes, answer readiness probes. See :class:`.keystore.SQLKeyStore`."""

    def authenticate(self, key: str) -> Principal:
        """The principal of a presented API key; Unauthenticated for anything else."""
        ...

    def create(
        self,
        scopes: Iterable[str],
        models: Iterable[str] = ("*",),
        *,
        role: str = "default",
        label: str = "",
    ) -> tuple[str, ApiKeyInfo]:
        """A new key (returned once, never stored) and its record."""
        ...

    def rotate(self, key_id: str) -> tuple[str, ApiKeyInfo]:
        """A fresh secret for an active key; KeyError if unknown or revoked."""
        ...

    def revoke(self, key_id: str) -> None:
        """Revoke a key; KeyError if unknown or already revoked."""
        ...

    def ping(self) -> bool:
        """Whether the store answers."""
        ...

    def list(self) -> list[ApiKeyInfo]:
        """Every key's record, oldest first."""
        ...


class JWTVerifier:
    """Bearer tokens checked against one configured key with an algorithm allowlist."""

    def __init__(self, settings: JWTSettings, key: str | bytes) -> None:
        if "none" in {a.lower() for a in settings.algorithms}:
            raise ConfigError("the 'none' JWT algorithm is never accepted")
        self._settings = settings
        self._key = key

    def verify(self, token: str) -> Principal:
        """The principal a valid token names; Unauthenticated for anything else."""
        import jwt

        s = self._settings
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=list(s.algorithms),
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "nbf", "iss", "aud", "sub"], "verify_signature": True},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"bad token: {type(exc).__name__}") from None
        return _claims_principal(claims)


def _claims_principal(claims: dict[str, Any]) -> Principal:
    sub, scope, models = claims.get("sub"), claims.get("scope", ""), claims.get("models", ())
    scopes = scope.split() if isinstance(scope, str) else scope
    models = [models] if isinstance(models, str) else models
    role = claims.get("role", "default")
    ok = (
        isinstance(sub, str)
        and 0 < len(sub) <= 200
        and isinstance(role, str)
        and isinstance(scopes, list)
        and all(isinstance(x, str) for x in scopes)
        and isinstance(models, list)
        and all(isinstance(x, str) for x in models)
    )
    if not ok:
        raise Unauthenticated("token claims have the wrong types")
    valid = frozenset(x for x in scopes if x in SCOPES)
    return Principal(f"jwt:{sub}", valid, frozenset(models), role)


class Authenticator:
    """The ``Authorization`` header -> a Principal, by API key or JWT."""

    def __init__(self, keys: KeyStore, jwt: JWTVerifier | None = None) -> None:
        self.keys = keys
        self.jwt = jwt

    def authenticate(self, headers: list[tuple[bytes, bytes]]) -> Principal:
        """Exactly one ``Authorization: Bearer <credential>`` header, or Unauthenticated."""
        values = [v for k, v in headers if k.lower() == b"authorization"]
        if len(values) != 1:
            raise Unauthenticated("missing or repeated Authorization header")
        raw = values[0]
        if len(raw) > _MAX_TOKEN or not raw.startswith(b"Bearer ") or not raw.isascii():
            raise Unauthenticated("malformed Authorization header")
        credential = raw[7:].decode("ascii")
        if credential.startswith("aiarmor_"):
            return self.keys.authenticate(credential)
        if self.jwt is None or credential.count(".") != 2:
            raise Unauthenticated("not an API key, and no JWT configured")
        return self.jwt.verify(credential)
