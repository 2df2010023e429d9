"""API keys in a SQL database (SQLAlchemy; SQLite by default): only keyed hashes are stored.

See :mod:`aiarmor.serving.pipeline.auth` for the key format and what a key carries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from aiarmor.core.errors import ConfigError
from aiarmor.serving.pipeline.auth import ApiKeyInfo, Principal, Unauthenticated
from aiarmor.serving.settings import SCOPES

__all__ = ["SQLKeyStore"]

_KEY = re.compile(r"aiarmor_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")

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


class SQLKeyStore:
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
