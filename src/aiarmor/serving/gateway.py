"""The request pipeline, framework-free: authenticate, authorize, validate, limit, detect,
predict, harden, audit.

Every request that reaches the pipeline ends with exactly one audit entry, appended (durably)
before the outcome is returned to the web layer, so no answer leaves the gateway unrecorded.
Refusals carry generic bodies; the specific reason goes to the server log only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

from aiarmor.serving.auditlog import AuditEntry
from aiarmor.serving.auth import Authenticator, Forbidden, Principal, Unauthenticated
from aiarmor.serving.limits import LimitDecision, Limiter
from aiarmor.serving.payload import PayloadError, harden, parse_inputs, summarize
from aiarmor.serving.settings import DetectionSettings, ModelSettings
from aiarmor.targets.base import ScoreTarget, Target

__all__ = ["Gateway", "Metrics", "Outcome", "ServedModel"]

log = logging.getLogger("aiarmor.serving")

_SEVERITY = {"log": 0, "alert": 1, "throttle": 2, "block": 3}
UNAUTHORIZED = {"detail": "unauthorized"}
FORBIDDEN = {"detail": "forbidden"}
MAX_RETRY_AFTER = 86_400


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the web layer sends back."""

    status: int
    body: Mapping[str, Any] | None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A loaded model with its configuration."""

    settings: ModelSettings
    target: Target
    signer: str | None


class Metrics:
    """Prometheus metrics of one gateway (its own registry, so apps do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aiarmor_requests",
            "Requests by route and decision",
            ["route", "decision"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aiarmor_predict_seconds",
            "Predict pipeline latency",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.alerts = Counter(
            "aiarmor_detector_flags",
            "Requests a detector flagged",
            ["detector", "action"],
            registry=self.registry,
        )
        self.samples = Counter(
            "aiarmor_samples", "Samples predicted", ["model"], registry=self.registry
        )


class Gateway:
    """The shared state of one gateway and its request pipeline."""

    def __init__(
        self,
        *,
        models: Mapping[str, ServedModel],
        auth: Authenticator,
        limiter: Limiter,
        audit: Any,
        detectors: Sequence[Any] = (),
        detection: DetectionSettings | None = None,
    ) -> None:
        self.models = dict(models)
        self.auth = auth
        self.limiter = limiter
        self.audit = audit
        self.detectors = list(detectors)
        self.detection = detection or DetectionSettings()
        self.metrics = Metrics()

    # ----------------------------------------------------------------------- auditing

    def record(
        self,
        *,
        identity: str,
        model: str,
        route: str,
        body: bytes,
        summary: str,
        decision: str,
        status: int,
        scores: Mapping[str, float] | None = None,
    ) -> None:
        """Append one audit entry (durable when this returns) and count it."""
        self.audit.append(
            AuditEntry(
                time=time.time(),
                identity=identity,
                model=model,
                route=route,
                input_sha256=hashlib.sha256(body).hexdigest() if body else "",
                output_summary=summary,
                decision=decision,
                status=status,
                detector_scores=dict(scores or {}),
            )
        )
        self.metrics.requests.labels(route, decision).inc()

    def authorize(
        self,
        headers: list[tuple[bytes, bytes]],
        scope: str | tuple[str, ...],
        route: str,
        model: str = "",
    ) -> Principal | Outcome:
        """The caller, or the (audited) 401/403 outcome that refuses them."""
        try:
            principal = self.auth.authenticate(headers)
        except Unauthenticated as exc:
            log.info("401 on %s: %s", route, exc)
            self.record(
                identity="anonymous",
                model=model,
                route=route,
                body=b"",
                summary="",
                decision="denied",
                status=401,
            )
            return Outcome(401, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
        try:
            for wanted in (scope,) if isinstance(scope, str) else scope:
                if wanted in principal.scopes:
                    break
            principal.require(wanted, model or None)
        except Forbidden as exc:
            log.info("403 on %s: %s", route, exc)
            self.record(
                identity=principal.identity,
                model=model,
                route=route,
                body=b"",
                summary="",
                decision="denied",
                status=403,
            )
            return Outcome(403, FORBIDDEN)
        return principal

    # ------------------------------------------------------------------------ predict

    def predict(
        self, name: str, headers: list[tuple[bytes, bytes]], content_type: str | None, body: bytes
    ) -> Outcome:
        """The whole predict pipeline for one request."""
        started = time.perf_counter()
        who = self.authorize(headers, "predict", "predict", name)
        if isinstance(who, Outcome):
            return who
        served = self.models.get(name)
        if served is None:
            self.record(
                identity=who.identity,
                model=name,
                route="predict",
                body=body,
                summary="",
                decision="invalid",
                status=404,
            )
            return Outcome(404, {"detail": "no such model"})
        outcome = self._predict(who, served, content_type, body)
        self.metrics.latency.observe(time.perf_counter() - started)
        return outcome

    def _predict(
        self, who: Principal, served: ServedModel, content_type: str | None, body: bytes
    ) -> Outcome:
        name = served.settings.name

        def done(decision: str, outcome: Outcome, summary: str = "", scores: Any = None) -> Outcome:
            self.record(
                identity=who.identity,
                model=name,
                route="predict",
                body=body,
                summary=summary,
                decision=decision,
                status=outcome.status,
                scores=scores,
            )
            return outcome

        try:
            x = parse_inputs(body, content_type, served.settings.input)
        except PayloadError as exc:
            return done("invalid", Outcome(exc.status, {"detail": exc.message}))
        limit = self.limiter.acquire(who.identity, int(x.shape[0]))
        if not limit.allowed:
            log.info("429 for %s: %s", who.identity, limit.reason)
            return done("throttled", _too_many(limit))
        scores, action = self._detect(who, name, x)
        if action == "block":
            return done("blocked", Outcome(403, FORBIDDEN), scores=scores)
        if action == "throttle":
            self.limiter.penalize(who.identity, self.detection.throttle_seconds)
            retry = LimitDecision(False, self.detection.throttle_seconds, "detector")
            return done("throttled", _too_many(retry), scores=scores)
        try:
            answer = self._answer(served, x, who.role)
        except Exception:  # the model itself failed on validated input
            log.exception("model %s failed", name)
            return done("error", Outcome(500, {"detail": "internal error"}), scores=scores)
        self.metrics.samples.labels(name).inc(int(x.shape[0]))
        return done("allowed", Outcome(200, answer), summarize(answer), scores)

    def _answer(self, served: ServedModel, x: np.ndarray, role: str) -> dict[str, Any]:
        target = served.target
        if isinstance(target, ScoreTarget):
            proba = target.predict_proba(x)
            labels = proba.argmax(axis=1)
        else:
            proba, labels = None, target.predict(x)
        answer = harden(proba, labels, served.settings.policy_for(role))
        return {"model": served.settings.name, **answer}

    def _detect(self, who: Principal, model: str, x: np.ndarray) -> tuple[dict[str, float], str]:
        """Run every detector; the strongest configured action among those that flagged."""
        scores: dict[str, float] = {}
        action = ""
        for detector in self.detectors:
            try:
                verdict = detector.observe(who.identity, model, x)
            except Exception:  # a broken detector must not take the gateway down
                log.exception("detector %s failed", getattr(detector, "name", detector))
                continue
            scores[verdict.name] = float(verdict.score)
            if not verdict.flagged:
                continue
            act = self.detection.actions.get(verdict.name) or getattr(verdict, "action", "alert")
            act = act if act in _SEVERITY else "block"  # an unknown action fails closed
            self.metrics.alerts.labels(verdict.name, act).inc()
            level = logging.WARNING if act != "log" else logging.INFO
            log.log(
                level,
                "detector %s flagged %s on %s: %s (action %s)",
                verdict.name,
                who.identity,
                model,
                verdict.reason,
                act,
            )
            if _SEVERITY[act] > _SEVERITY.get(action, -1):
                action = act
        return scores, action


def _too_many(decision: LimitDecision) -> Outcome:
    retry = decision.retry_after
    seconds = MAX_RETRY_AFTER if math.isinf(retry) else max(1, math.ceil(retry))
    return Outcome(429, {"detail": "too many requests"}, {"Retry-After": str(seconds)})


def dumps(body: Mapping[str, Any] | None) -> bytes:
    """Compact JSON for responses."""
    return json.dumps(body, separators=(",", ":")).encode()
