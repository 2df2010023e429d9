"""Rate limits and budgets: in-process and on the real Redis, never overspent under concurrency."""

from __future__ import annotations

import math
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aiarmor.serving.pipeline.limits import MemoryLimiter, RedisLimiter
from aiarmor.serving.settings import LimitSettings

X = [[0.1, 0.2, 0.3, 0.4]]


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("AIARMOR_REQUIRE_REDIS") == "1":
            pytest.fail("AIARMOR_REQUIRE_REDIS=1 but no Redis answers on 127.0.0.1:6379")
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


@pytest.fixture(params=["memory", "redis"])
def limiter_factory(request):
    made = []
    if request.param == "memory":
        yield lambda **kw: MemoryLimiter(LimitSettings(**kw))
        return
    client = _redis_or_skip()
    prefix = f"aiarmor-test-{secrets.token_hex(6)}:"

    def build(**kw):
        lim = RedisLimiter(LimitSettings(backend="redis", redis_prefix=prefix, **kw), client)
        made.append(lim)
        return lim

    yield build
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_token_bucket_allows_the_burst_then_refuses_with_retry_after(limiter_factory):
    lim = limiter_factory(rate=0.5, burst=3)
    assert all(lim.acquire("a", 1).allowed for _ in range(3))
    refused = lim.acquire("a", 1)
    assert not refused.allowed and refused.reason == "rate"
    assert 0 < refused.retry_after <= 2.0
    assert lim.acquire("b", 1).allowed  # identities are independent


def test_budgets_count_samples_and_refuse_without_charging(limiter_factory):
    lim = limiter_factory(rate=1000, burst=1000, daily_budget=10, total_budget=25)
    assert lim.acquire("a", 8).allowed
    refused = lim.acquire("a", 3)
    assert (refused.allowed, refused.reason) == (False, "daily_budget")
    assert 0 < refused.retry_after <= 86_400
    assert lim.acquire("a", 2).allowed  # the refused request charged nothing
    assert not lim.acquire("a", 1).allowed


def test_total_budget_is_final(limiter_factory):
    lim = limiter_factory(rate=1000, burst=1000, total_budget=5)
    assert lim.acquire("a", 5).allowed
    refused = lim.acquire("a", 1)
    assert refused.reason == "total_budget" and math.isinf(refused.retry_after)


def test_penalty_blocks_an_identity(limiter_factory):
    lim = limiter_factory(rate=1000, burst=1000)
    lim.penalize("a", 30)
    refused = lim.acquire("a", 1)
    assert (refused.allowed, refused.reason) == (False, "penalty")
    assert lim.acquire("b", 1).allowed


def test_concurrent_requests_never_exceed_the_budget(limiter_factory):
    lim = limiter_factory(rate=10_000, burst=10_000, total_budget=100)
    barrier = threading.Barrier(8)

    def worker(_):
        barrier.wait()
        return sum(lim.acquire("a", 3).allowed for _ in range(20))

    with ThreadPoolExecutor(8) as pool:
        admitted = sum(pool.map(worker, range(8)))
    assert admitted == 100 // 3  # exactly as many 3-sample requests as fit, no more


def test_two_redis_limiters_share_one_budget():
    client = _redis_or_skip()
    prefix = f"aiarmor-test-{secrets.token_hex(6)}:"
    cfg = LimitSettings(backend="redis", redis_prefix=prefix, rate=1000, burst=1000, total_budget=4)
    try:
        a, b = RedisLimiter(cfg, client), RedisLimiter(cfg, client)
        assert a.acquire("x", 2).allowed and b.acquire("x", 2).allowed
        assert not a.acquire("x", 1).allowed and not b.acquire("x", 1).allowed
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def test_the_gateway_answers_429_with_retry_after(make_client):
    c = make_client(limits={"rate": 0.1, "burst": 2})
    key = c.key(["predict"])
    assert [c.predict(key, X).status_code for _ in range(3)] == [200, 200, 429]
    r = c.predict(key, X)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert c.gw.audit.query(model="tiny", limit=1)[0]["decision"] == "throttled"


def test_concurrent_gateway_requests_respect_the_budget(make_client):
    c = make_client(limits={"rate": 1000.0, "burst": 1000, "total_budget": 10})
    key = c.key(["predict"])
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: c.predict(key, X * 2).status_code, range(12)))
    assert codes.count(200) == 5 and codes.count(429) == 7
