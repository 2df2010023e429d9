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
the reason is kept for the server log and the audit trail only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

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

_KEY = re.compile(r"aiarmor_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
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


_meta = sa.MetaData()
_keys = sa.Table(
    "aiarmor_api_keys",
    _meta,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("models", sa.Text, nullable=False),
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False),
)


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    out = tuple(sorted(set(scopes)))
    bad = [s for s in out if s not in SCOPES]
    if bad or not out:
        raise ConfigError(f"scopes must be some of {', '.join(SCOPES)}; got {list(out)}")
    return out


def _check_models(models: Iterable[str]) -> tuple[str, ...]:
    out = tuple(sorted(set(models)))
    if not out or any(not re.fullmatch(r"\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63}", m) for m in out):
        raise ConfigError("models must be model names or '*'")
    return out


class KeyStore:
    """API keys in a SQL database (SQLAlchemy URL; SQLite by default)."""

    def __init__(self, url: str, server_secret: bytes, *, cache_seconds: float = 1.0) -> None:
        if len(server_secret) < 16:
            raise ConfigError("the server secret must be at least 16 bytes")
        try:
            self._engine = sa.create_engine(url, future=True)
            _meta.create_all(self._engine)
        except (sa.exc.SQLAlchemyError, ValueError) as exc:
            raise ConfigError(f"cannot open key store: {type(exc).__name__}") from None
        self._secret = server_secret
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, tuple[Any, ...] | None]] = {}
        self._lock = threading.Lock()

    def _hash(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    def create(
        self,
        scopes: Iterable[str],
        models: Iterable[str] = ("*",),
        *,
        role: str = "default",
        label: str = "",
    ) -> tuple[str, ApiKeyInfo]:
        """A new key (returned once, never stored) and its record."""
        scopes_t, models_t = _check_scopes(scopes), _check_models(models)
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", role):
            raise ConfigError("role must be 1-64 characters of [A-Za-z0-9._-]")
        key_id, key = self._new_key()
        row = {
            "id": key_id,
            "key_hash": self._hash(key),
            "scopes": " ".join(scopes_t),
            "models": " ".join(models_t),
            "role": role,
            "label": label[:200],
            "created": time.time(),
            "revoked": False,
        }
        with self._engine.begin() as conn:
            conn.execute(_keys.insert().values(**row))
        return key, _info(row)

    def _new_key(self) -> tuple[str, str]:
        key_id = secrets.token_hex(6)
        return key_id, f"aiarmor_{key_id}_{secrets.token_urlsafe(32)}"

    def rotate(self, key_id: str) -> tuple[str, ApiKeyInfo]:
        """A fresh secret for an active key; the old secret stops working at once."""
        key = f"aiarmor_{key_id}_{secrets.token_urlsafe(32)}"
        with self._engine.begin() as conn:
            done = conn.execute(
                _keys.update()
                .where(_keys.c.id == key_id, _keys.c.revoked.is_(False))
                .values(key_hash=self._hash(key))
            )
        if done.rowcount != 1:
            raise KeyError(key_id)
        self._forget(key_id)
        return key, self.get(key_id)

    def revoke(self, key_id: str) -> None:
        """Revoke a key (kept for the record); KeyError if unknown or already revoked."""
        with self._engine.begin() as conn:
            done = conn.execute(
                _keys.update()
                .where(_keys.c.id == key_id, _keys.c.revoked.is_(False))
                .values(revoked=True)
            )
        self._forget(key_id)
        if done.rowcount != 1:
            raise KeyError(key_id)

    def get(self, key_id: str) -> ApiKeyInfo:
        """One key's record; KeyError if unknown."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(_keys).where(_keys.c.id == key_id)).mappings().first()
        if row is None:
            raise KeyError(key_id)
        return _info(row)

    def list(self) -> list[ApiKeyInfo]:
        """Every key's record, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(_keys).order_by(_keys.c.created)).mappings().all()
        return [_info(r) for r in rows]

    def authenticate(self, key: str) -> Principal:
        """The principal of a presented key; Unauthenticated for anything else."""
        match = _KEY.fullmatch(key)
        if match is None:
            raise Unauthenticated("malformed API key")
        row = self._lookup(match.group(1))
        presented = self._hash(key)
        if row is None or not hmac.compare_digest(presented, row[0]):
            raise Unauthenticated("unknown or wrong API key")
        if row[4]:
            raise Unauthenticated("revoked API key")
        return Principal(
            f"key:{match.group(1)}", frozenset(row[1].split()), frozenset(row[2].split()), row[3]
        )

    def _lookup(self, key_id: str) -> tuple[Any, ...] | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        cols = (_keys.c.key_hash, _keys.c.scopes, _keys.c.models, _keys.c.role, _keys.c.revoked)
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(*cols).where(_keys.c.id == key_id)).first()
        row = tuple(found) if found is not None else None
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key_id] = (now, row)
        return row

    def _forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        row["id"],
        tuple(row["scopes"].split()),
        tuple(row["models"].split()),
        row["role"],
        row["label"],
        float(row["created"]),
        bool(row["revoked"]),
    )


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
