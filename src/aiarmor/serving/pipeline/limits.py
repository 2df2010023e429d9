"""Abuse limits per identity: a token-bucket rate limit and daily / total query budgets.

Each request costs one token of the bucket (``rate`` per second, up to ``burst``) and as many
units of the budgets as it has samples. A request is admitted only if all three allow it, and
then all three are charged at once, so concurrent requests can never overspend a budget.
:class:`MemoryLimiter` does this under a lock (one process); :class:`RedisLimiter` in one
Lua script (atomic on the server, clock from Redis ``TIME``), so several gateway instances
share the limits. ``penalize`` blocks an identity for a while (the detectors' throttle).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiarmor.core.errors import ConfigError
from aiarmor.serving.settings import LimitSettings

if TYPE_CHECKING:
    import redis

__all__ = ["LimitDecision", "Limiter", "MemoryLimiter", "RedisLimiter", "build_limiter"]

_DAY = 86_400


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """Whether a request may go ahead."""

    allowed: bool
    retry_after: float
    """Seconds until it could succeed (0 when allowed; may be days for a spent budget)."""
    reason: str
    """``ok``, ``rate``, ``daily_budget``, ``total_budget``, ``penalty`` or ``too_large``."""


_OK = LimitDecision(True, 0.0, "ok")


class Limiter(Protocol):
    """What the gateway needs of a limiter."""

    def acquire(self, identity: str, samples: int) -> LimitDecision: ...
    def penalize(self, identity: str, seconds: float) -> None: ...
    def close(self) -> None: ...


def _seconds_to_midnight(now: float) -> float:
    return _DAY - now % _DAY


class MemoryLimiter:
    """The limits of one process, thread-safe."""

    def __init__(self, settings: LimitSettings) -> None:
        self._s = settings
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._daily: dict[str, tuple[int, int]] = {}
        self._total: dict[str, int] = {}
        self._penalty: dict[str, float] = {}

    def acquire(self, identity: str, samples: int) -> LimitDecision:
        """Admit and charge, or refuse without charging anything."""
        now = time.time()
        with self._lock:
            if (until := self._penalty.get(identity, 0.0)) > now:
                return LimitDecision(False, until - now, "penalty")
            tokens, last = self._buckets.get(identity, (float(self._s.burst), now))
            tokens = min(float(self._s.burst), tokens + (now - last) * self._s.rate)
            day = int(now // _DAY)
            used_day = self._daily.get(identity, (day, 0))
            used_today = used_day[1] if used_day[0] == day else 0
            used_total = self._total.get(identity, 0)
            refusal = self._refusal(tokens, used_today, used_total, samples, now)
            if refusal is not None:
                self._buckets[identity] = (tokens, now)
                return refusal
            self._buckets[identity] = (tokens - 1.0, now)
            self._daily[identity] = (day, used_today + samples)
            self._total[identity] = used_total + samples
        return _OK

    def _refusal(
        self, tokens: float, today: int, total: int, samples: int, now: float
    ) -> LimitDecision | None:
        s = self._s
        if s.total_budget is not None and total + samples > s.total_budget:
            return LimitDecision(False, math.inf, "total_budget")
        if s.daily_budget is not None and today + samples > s.daily_budget:
            return LimitDecision(False, _seconds_to_midnight(now), "daily_budget")
        if tokens < 1.0:
            return LimitDecision(False, (1.0 - tokens) / s.rate, "rate")
        return None

    def penalize(self, identity: str, seconds: float) -> None:
        """Refuse every request of ``identity`` for ``seconds``."""
        with self._lock:
            self._penalty[identity] = max(self._penalty.get(identity, 0.0), time.time() + seconds)

    def close(self) -> None:
        """Nothing to release."""


# KEYS: bucket, daily, total, penalty.  ARGV: rate, burst, samples, daily_limit, total_limit
# (-1 = none). Returns {allowed, retry_after_ms, reason}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rate, burst, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dlim, tlim = tonumber(ARGV[4]), tonumber(ARGV[5])
local pttl = redis.call('PTTL', KEYS[4])
if pttl > 0 then return {0, pttl, 'penalty'} end
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local day = math.floor(now / 86400)
local dkey = KEYS[2] .. ':' .. day
local used_day = tonumber(redis.call('GET', dkey)) or 0
local used_total = tonumber(redis.call('GET', KEYS[3])) or 0
local reason = nil
local retry = 0
if tlim >= 0 and used_total + n > tlim then reason = 'total_budget'; retry = -1
elseif dlim >= 0 and used_day + n > dlim then
  reason = 'daily_budget'; retry = math.ceil((86400 - now % 86400) * 1000)
elseif tokens < 1 then reason = 'rate'; retry = math.ceil((1 - tokens) / rate * 1000) end
if reason then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
  return {0, retry, reason}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
redis.call('INCRBY', dkey, n)
redis.call('EXPIRE', dkey, 2 * 86400)
redis.call('INCRBY', KEYS[3], n)
return {1, 0, 'ok'}
"""


class RedisLimiter:
    """The same limits shared by every gateway instance through one Redis."""

    def __init__(self, settings: LimitSettings, client: redis.Redis | None = None) -> None:
        import redis

        self._s = settings
        try:
            self._redis = client or redis.Redis.from_url(settings.redis_url, socket_timeout=2.0)
            self._script = self._redis.register_script(_SCRIPT)
        except (redis.RedisError, ValueError) as exc:
            raise ConfigError(f"cannot use Redis for limits: {type(exc).__name__}") from None
        self._prefix = settings.redis_prefix

    def _keys(self, identity: str) -> list[str]:
        p = f"{self._prefix}{identity}"
        return [f"{p}:bucket", f"{p}:daily", f"{p}:total", f"{p}:penalty"]

    def acquire(self, identity: str, samples: int) -> LimitDecision:
        """Admit and charge atomically on the Redis server, or refuse."""
        s = self._s
        args = [s.rate, s.burst, samples, s.daily_budget or -1, s.total_budget or -1]
        allowed, retry_ms, reason = self._script(keys=self._keys(identity), args=args)
        if int(allowed):
            return _OK
        retry = math.inf if int(retry_ms) < 0 else int(retry_ms) / 1000
        return LimitDecision(False, retry, reason.decode() if isinstance(reason, bytes) else reason)

    def penalize(self, identity: str, seconds: float) -> None:
        """Refuse every request of ``identity`` for ``seconds`` (across instances)."""
        self._redis.set(self._keys(identity)[3], b"1", px=max(1, int(seconds * 1000)))

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


def build_limiter(settings: LimitSettings) -> Limiter:
    """The configured backend."""
    if settings.backend == "redis":
        return RedisLimiter(settings)
    return MemoryLimiter(settings)
