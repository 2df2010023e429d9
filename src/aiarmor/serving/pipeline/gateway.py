"""The request pipeline, framework-free: authenticate, authorize, validate, limit, detect,
predict, harden, audit.

Every request that reaches the pipeline ends with exactly one audit entry, appended (durably)
before the outcome is returned to the web layer, so no answer leaves the gateway unrecorded.
Refusals carry generic bodies; the specific reason goes to the server log only.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from anyio import to_thread

from aiarmor.serving.audit.log import AuditEntry
from aiarmor.serving.audit.sink import AuditSink
from aiarmor.serving.pipeline.auth import Authenticator, Forbidden, Principal, Unauthenticated
from aiarmor.serving.pipeline.detect import QueryDetector
from aiarmor.serving.pipeline.limits import LimitDecision, Limiter
from aiarmor.serving.pipeline.metrics import Metrics
from aiarmor.serving.pipeline.outcome import (
    FORBIDDEN,
    INTERNAL,
    NO_SUCH_MODEL,
    NON_FINITE,
    UNAUTHENTICATED,
    UNAVAILABLE,
    Decision,
    Outcome,
    too_many,
)
from aiarmor.serving.pipeline.payload import (
    PayloadError,
    finite_scores,
    harden,
    parse_inputs,
    summarize,
)
from aiarmor.serving.settings import MODEL_NAME, DetectionSettings, ModelSettings
from aiarmor.targets.base import ScoreTarget, Target

__all__ = ["Gateway", "ServedModel"]

log = logging.getLogger("aiarmor.serving")

_SEVERITY = {"log": 0, "alert": 1, "throttle": 2, "block": 3}
_MODEL_NAME = re.compile(MODEL_NAME)


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A loaded model with its configuration."""

    settings: ModelSettings
    target: Target
    signer: str | None
    detectors: tuple[QueryDetector, ...] = ()
    """Per-input detectors of this model only (e.g. STRIP), run after the gateway's own."""
    scores: bool = field(init=False)
    """The target gives probabilities (checked once: a protocol check costs ~30 us)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", isinstance(self.target, ScoreTarget))


class Gateway:
    """The shared state of one gateway and its request pipeline."""

    def __init__(
        self,
        *,
        models: Mapping[str, ServedModel],
        auth: Authenticator,
        limiter: Limiter,
        audit: AuditSink,
        detectors: Sequence[QueryDetector] = (),
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

    def entry(
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
    ) -> AuditEntry:
        """The audit entry of one request, stamped now."""
        return AuditEntry(
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

    def record(self, **fields: Any) -> None:
        """Append the entry made of ``fields`` (see :meth:`entry`); durable when this returns."""
        self.commit(self.entry(**fields))

    def commit(self, entry: AuditEntry) -> None:
        """Append ``entry`` (durable when this returns) and count it."""
        self.audit.append(entry)
        self.metrics.count(entry.route, entry.decision)

    async def commit_async(self, entry: AuditEntry) -> None:
        """:meth:`commit` without blocking the event loop."""
        await self.audit.append_async(entry)
        self.metrics.count(entry.route, entry.decision)

    def authorize(
        self,
        headers: list[tuple[bytes, bytes]],
        scope: str | tuple[str, ...],
        route: str,
        model: str = "",
    ) -> Principal | Outcome:
        """The caller, or the (audited) 401/403 outcome that refuses them."""
        who = self.check(headers, scope, route, model)
        if isinstance(who, Decision):
            self.commit(who.entry)
            return who.outcome
        return who

    def check(
        self,
        headers: list[tuple[bytes, bytes]],
        scope: str | tuple[str, ...],
        route: str,
        model: str = "",
    ) -> Principal | Decision:
        """The caller, or the 401/403 decision (not yet audited) that refuses them."""
        try:
            principal = self.auth.authenticate(headers)
        except Unauthenticated as exc:
            log.info("401 on %s: %s", route, exc)
            return self._decision("anonymous", model, b"", "denied", UNAUTHENTICATED, route=route)
        try:
            for wanted in (scope,) if isinstance(scope, str) else scope:
                if wanted in principal.scopes:
                    break
            principal.require(wanted, model or None)
        except Forbidden as exc:
            log.info("403 on %s: %s", route, exc)
            outcome = Outcome(403, FORBIDDEN)
            return self._decision(principal.identity, model, b"", "denied", outcome, route=route)
        return principal

    def _decision(
        self,
        identity: str,
        model: str,
        body: bytes,
        decision: str,
        outcome: Outcome,
        *,
        route: str = "predict",
        summary: str = "",
        scores: Mapping[str, float] | None = None,
    ) -> Decision:
        entry = self.entry(
            identity=identity,
            model=model,
            route=route,
            body=body,
            summary=summary,
            decision=decision,
            status=outcome.status,
            scores=scores,
        )
        return Decision(outcome, entry)

    def refuse(
        self,
        headers: list[tuple[bytes, bytes]],
        route: str,
        status: int,
        detail: str,
        scope: str | tuple[str, ...] = (),
    ) -> Outcome:
        """The audited refusal of a request the gateway will not serve (bad parameters, no
        such route): the caller is authenticated (and, with ``scope``, authorized) first, so
        an anonymous caller gets the same 401 as everywhere and learns nothing else."""
        if scope:
            who = self.check(headers, scope, route)
        else:
            try:
                who = self.auth.authenticate(headers)
            except Unauthenticated as exc:
                log.info("401 on %s: %s", route, exc)
                who = self._decision("anonymous", "", b"", "denied", UNAUTHENTICATED, route=route)
        if isinstance(who, Decision):
            self.commit(who.entry)
            return who.outcome
        outcome = Outcome(status, {"detail": detail})
        self.commit(self._decision(who.identity, "", b"", "invalid", outcome, route=route).entry)
        return outcome

    def record_failure(self, headers: list[tuple[bytes, bytes]], route: str = "request") -> None:
        """Audit a request that failed unexpectedly (a generic 500), naming the caller when
        the credential still authenticates."""
        try:
            identity = self.auth.authenticate(headers).identity
        except Exception:  # anonymous, or the key store is what failed
            identity = "anonymous"
        self.commit(self._decision(identity, "", b"", "error", INTERNAL, route=route).entry)

    def refuse_body(
        self, name: str, headers: list[tuple[bytes, bytes]], status: int, detail: str
    ) -> Outcome:
        """The audited refusal of a predict body that is too large or wrongly declared.

        The caller is authenticated first, so an anonymous flood still gets 401s and the
        record names who sent the body; the connection is closed (the body was not read).
        """
        name = name if _MODEL_NAME.fullmatch(name) else ""
        who = self.authorize(headers, "predict", "predict", name)
        if isinstance(who, Outcome):
            return who
        outcome = Outcome(status, {"detail": detail}, {"Connection": "close"})
        self.commit(self._decision(who.identity, name, b"", "invalid", outcome).entry)
        return outcome

    # ------------------------------------------------------------------------ predict

    def predict(
        self, name: str, headers: list[tuple[bytes, bytes]], content_type: str | None, body: bytes
    ) -> Outcome:
        """The whole predict pipeline for one request, its audit entry committed."""
        started = time.perf_counter()
        decision = self.decide(name, headers, content_type, body)
        try:
            self.commit(decision.entry)
        except Exception:
            return _unaudited(name)
        self.metrics.latency.observe(time.perf_counter() - started)
        return decision.outcome

    async def predict_async(
        self, name: str, headers: list[tuple[bytes, bytes]], content_type: str | None, body: bytes
    ) -> Outcome:
        """:meth:`predict` on the event loop: the pipeline runs inline (in a worker thread
        for models configured with ``inference = "thread"``) and the loop awaits the audit
        commit instead of blocking on it."""
        started = time.perf_counter()
        served = self.models.get(name)
        if served is not None and served.settings.inference == "thread":
            decision = await to_thread.run_sync(self.decide, name, headers, content_type, body)
        else:
            decision = self.decide(name, headers, content_type, body)
        try:
            await self.commit_async(decision.entry)
        except Exception:
            return _unaudited(name)
        self.metrics.latency.observe(time.perf_counter() - started)
        return decision.outcome

    def decide(
        self, name: str, headers: list[tuple[bytes, bytes]], content_type: str | None, body: bytes
    ) -> Decision:
        """Authenticate, authorize, validate, limit, detect, predict and harden: the outcome
        and its audit entry, which the caller must commit before sending the outcome."""
        identity = "anonymous"
        if not _MODEL_NAME.fullmatch(name):  # no model has it; not worth recording either
            name = ""
        try:
            who = self.check(headers, "predict", "predict", name)
            if isinstance(who, Decision):
                return who
            identity = who.identity
            served = self.models.get(name)
            if served is None:
                return self._decision(identity, name, body, "invalid", NO_SUCH_MODEL)
            return self._decide(who, served, content_type, body)
        except Exception:  # key store or limiter down, or a bug: still one audited answer
            log.exception("predict on %s failed", name)
            return self._decision(identity, name, body, "error", INTERNAL)

    def _decide(
        self, who: Principal, served: ServedModel, content_type: str | None, body: bytes
    ) -> Decision:
        name = served.settings.name

        def done(
            decision: str,
            outcome: Outcome,
            summary: str = "",
            scores: Mapping[str, float] | None = None,
        ) -> Decision:
            return self._decision(
                who.identity, name, body, decision, outcome, summary=summary, scores=scores
            )

        try:
            x = parse_inputs(body, content_type, served.settings.input)
        except PayloadError as exc:
            return done("invalid", Outcome(exc.status, {"detail": exc.message}))
        limit = self.limiter.acquire(who.identity, int(x.shape[0]))
        if not limit.allowed:
            log.info("429 for %s: %s", who.identity, limit.reason)
            return done("throttled", too_many(limit))
        scores, action = self._detect(who, served, x)
        if action == "error":  # fail closed: a request no detector may skip is not answered
            return done("error", INTERNAL, scores=scores)
        if action == "block":
            return done("blocked", Outcome(403, FORBIDDEN), scores=scores)
        if action == "throttle":
            self.limiter.penalize(who.identity, self.detection.throttle_seconds)
            retry = LimitDecision(False, self.detection.throttle_seconds, "detector")
            return done("throttled", too_many(retry), scores=scores)
        try:
            answer = self._answer(served, x, who.role)
        except PayloadError as exc:  # an output JSON cannot carry (NaN, infinity)
            log.warning("model %s on %s: %s", name, who.identity, exc.message)
            return done("invalid", Outcome(exc.status, {"detail": exc.message}), scores=scores)
        except Exception:  # the model itself failed on validated input
            log.exception("model %s failed", name)
            return done("error", INTERNAL, scores=scores)
        self.metrics.samples.labels(name).inc(int(x.shape[0]))
        return done("allowed", Outcome(200, answer), summarize(answer), scores)

    def _answer(self, served: ServedModel, x: np.ndarray, role: str) -> dict[str, Any]:
        target = served.target
        if served.scores:
            proba = np.asarray(target.predict_proba(x))  # type: ignore[attr-defined]
            if not finite_scores(proba):  # argmax of NaN is no label either
                raise PayloadError(422, NON_FINITE)
            labels = proba.argmax(axis=1)
        else:
            proba, labels = None, np.asarray(target.predict(x))
            if not finite_scores(labels):
                raise PayloadError(422, NON_FINITE)
        answer = harden(proba, labels, served.settings.policy_for(role))
        return {"model": served.settings.name, **answer}

    def _detect(
        self, who: Principal, served: ServedModel, x: np.ndarray
    ) -> tuple[dict[str, float], str]:
        """Run every detector; the strongest configured action among those that flagged, or
        ``"error"`` as soon as one cannot score the request (it fails closed)."""
        scores: dict[str, float] = {}
        action = ""
        model = served.settings.name
        for detector in (*self.detectors, *served.detectors):
            try:
                verdict = detector.observe(who.identity, model, x)
            except Exception:  # fail closed: never answer a request a detector did not see
                log.exception(
                    "detector %s could not score a request of %s to %s: refused",
                    getattr(detector, "name", detector),
                    who.identity,
                    model,
                )
                return scores, "error"
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


def _unaudited(model: str) -> Outcome:
    """Fail closed: an answer that could not be audited is not sent."""
    log.exception("audit log append failed for a request to %s: refused with 503", model)
    return UNAVAILABLE
