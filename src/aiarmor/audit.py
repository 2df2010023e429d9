"""The orchestrator: run the selected checks on a target and data, apply the policy.

Each check runs isolated: an exception inside one becomes an ``error`` status with a one-line
reason and the others still run. A check is a pure function of (target, data shard, params,
seed), so the work can later be sharded; the orchestrator owns timing, thresholds,
suppressions and the verdict.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from aiarmor._version import __version__
from aiarmor.builtin import load_builtin_checks
from aiarmor.core.capability import Capability, Target, data_capabilities
from aiarmor.core.errors import InputError, PolicyError
from aiarmor.core.findings import (
    CheckOutcome,
    CheckResult,
    CheckStatus,
    Finding,
    failing,
    status_of,
)
from aiarmor.core.policy import Policy, Threshold
from aiarmor.core.registry import Budget, Check, CheckContext, get_check, registered
from aiarmor.core.report import Report, Verdict
from aiarmor.data.dataset import Dataset
from aiarmor.targets.base import capabilities, target_capabilities


class AuditProgress(Protocol):
    """Receives progress events (the CLI renders them with Rich)."""

    def check_started(self, check_id: str, index: int, total: int) -> None:
        """A check begins."""

    def check_progress(self, done: int, total: int, message: str = "") -> None:
        """Work inside the running check advanced."""

    def check_finished(self, result: CheckResult) -> None:
        """A check ended (any status)."""


def select_checks(checks: Iterable[str] | None, policy: Policy) -> list[type[Check]]:
    """The check classes to run: the given ids (or all registered) plus the required ones."""
    load_builtin_checks()
    ids = list(registered()) if checks is None else list(dict.fromkeys(checks))
    ids += [r for r in policy.required if r not in ids]
    return [get_check(i) for i in ids]


def validate_policy(policy: Policy) -> None:
    """Reject a policy that names unknown checks or metrics (a typo must not pass silently)."""
    load_builtin_checks()
    known = registered()
    named = set(policy.checks) | set(policy.required)
    named |= {t.check_id for t in policy.thresholds} | {s.check_id for s in policy.suppressions}
    unknown = sorted(named - set(known))
    if unknown:
        raise PolicyError(f"policy names unknown check(s): {', '.join(unknown)}")
    for check_id, params in policy.checks.items():
        known[check_id].resolve_params(params)
    for t in policy.thresholds:
        patterns = known[t.check_id].metrics
        if not any(fnmatch.fnmatchcase(t.metric, p) for p in patterns):
            raise PolicyError(
                f"thresholds.{t.check_id}.{t.metric}: the check reports no such metric "
                f"(it reports: {', '.join(patterns)})"
            )


def audit(
    target: Target,
    data: Dataset,
    *,
    train: Dataset | None = None,
    policy: Policy | None = None,
    checks: Sequence[str] | None = None,
    budget: str | Budget = Budget.STANDARD,
    seed: int = 0,
    progress: AuditProgress | None = None,
    subject: Mapping[str, Any] | None = None,
) -> Report:
    """Audit ``target`` on held-out ``data`` (and ``train`` when given) and return a Report."""
    policy = policy or Policy()
    validate_policy(policy)
    budget = Budget.parse(budget)
    selected = select_checks(checks, policy)
    preflight(target, data)
    warnings = input_warnings(target, data, train)
    if warnings:
        subject = {**(subject or {}), "warnings": warnings}
    started = time.perf_counter()
    results = []
    for index, cls in enumerate(selected):
        if progress is not None:
            progress.check_started(cls.id, index, len(selected))
        ctx = CheckContext(
            target=target,
            data=data,
            train=train,
            params=cls.resolve_params(policy.params_for(cls.id)),
            budget=budget,
            seed=seed,
            check_id=cls.id,
            progress=progress.check_progress if progress is not None else None,
        )
        result = _apply_policy(run_check(cls, ctx), cls, policy)
        results.append(result)
        if progress is not None:
            progress.check_finished(result)
    total = time.perf_counter() - started
    return _report(target, data, train, policy, budget, seed, results, total, subject)


def preflight(target: Target, data: Dataset) -> None:
    """Fail fast (InputError) when the model cannot answer the data at all.

    Sends two samples; a model that raises on well-formed data, or predicts a number of
    classes that cannot cover the labels, is a usage error, not a finding.
    """
    probe = data.x[:2]
    try:
        labels = np.asarray(target.predict(probe))
    except Exception as exc:
        raise InputError(
            f"the model cannot process samples of shape {data.sample_shape} from {data.name}: "
            f"{type(exc).__name__}: {_one_line(str(exc))}"
        ) from None
    if labels.shape != (probe.shape[0],):
        raise InputError(
            f"the model returned predictions of shape {labels.shape} for {probe.shape[0]} samples"
        )
    n_classes = getattr(target, "n_classes", None)
    if n_classes is not None and data.n_classes > int(n_classes):
        raise InputError(
            f"{data.name} has {data.n_classes} classes but the model predicts {n_classes}"
        )


def input_warnings(target: Target, data: Dataset, train: Dataset | None = None) -> list[str]:
    """Warnings about inputs that are valid but probably not what the user meant (one line
    each); the audit records them in ``subject["warnings"]`` and the CLI prints them.

    Today: data outside the target's declared input bounds. The attacks clip to the bounds,
    so a wrong ``--bounds`` silently measures a different threat model.
    """
    bounds = getattr(target, "bounds", None)
    if not bounds:
        return []
    lo, hi = float(bounds[0]), float(bounds[1])
    out = []
    for ds in (data, train):
        if ds is None or ds.x.size == 0 or not np.issubdtype(ds.x.dtype, np.number):
            continue
        share = float(np.count_nonzero((ds.x < lo) | (ds.x > hi))) / ds.x.size
        if share > 0:
            out.append(
                f"{share:.1%} of the values in {ds.name} lie outside the input bounds "
                f"[{lo:g}, {hi:g}] (data range [{float(ds.x.min()):g}, {float(ds.x.max()):g}]); "
                "attacks clip to the bounds, so check --bounds"
            )
    return out


def available_capabilities(ctx: CheckContext) -> frozenset[Capability]:
    """What the context's target and data offer, to compare with ``Check.requires``."""
    return target_capabilities(ctx.target) | data_capabilities(ctx.data, ctx.train)


def run_check(cls: type[Check], ctx: CheckContext) -> CheckResult:
    """Run one check isolated: skipped when a required capability is missing (the check is
    not even built) or when it is not applicable, error on any exception."""
    t0 = time.perf_counter()
    empty = CheckResult(
        id=cls.id, title=cls.title, status=CheckStatus.SKIPPED, standards=cls.standards
    )
    try:
        missing = cls.skip_reason(available_capabilities(ctx))
        if missing is not None:
            return replace(empty, reason=missing)
        check = cls()
        reason = check.applicable(ctx)
        if reason is not None:
            return replace(empty, reason=reason)
        outcome = check.run(ctx)
        if not isinstance(outcome, CheckOutcome):
            raise TypeError(f"run() returned {type(outcome).__name__}, not CheckOutcome")
    except Exception as exc:  # isolation: one broken check must not sink the audit
        return replace(
            empty,
            status=CheckStatus.ERROR,
            reason=f"{type(exc).__name__}: {_one_line(str(exc))}",
            duration_s=time.perf_counter() - t0,
        )
    return replace(
        empty,
        status=CheckStatus.PASSED,
        metrics=dict(outcome.metrics),
        findings=tuple(outcome.findings),
        charts=tuple(outcome.charts),
        duration_s=time.perf_counter() - t0,
    )


def _apply_policy(result: CheckResult, cls: type[Check], policy: Policy) -> CheckResult:
    """Add threshold findings, mark suppressed findings, and set passed/failed."""
    if result.status in (CheckStatus.SKIPPED, CheckStatus.ERROR):
        return result
    thresholds = [t for t in policy.thresholds if t.check_id == cls.id]
    findings = list(result.findings) + _threshold_findings(thresholds, result.metrics, cls)
    today = dt.datetime.now(dt.UTC).date()
    marked = []
    for f in findings:
        s = policy.suppression_for(f.check_id, f.title, today)
        if s is not None:
            f = replace(f, suppressed=True, justification=s.justification)
        marked.append(f)
    return replace(result, findings=tuple(marked), status=status_of(marked, policy.fail_on))


def _threshold_findings(
    thresholds: list[Threshold], metrics: Mapping[str, float], cls: type[Check]
) -> list[Finding]:
    out = []
    for t in thresholds:
        for name in sorted(fnmatch.filter(metrics, t.metric)):
            problem = t.violated_by(float(metrics[name]))
            if problem is None:
                continue
            out.append(
                Finding(
                    check_id=cls.id,
                    severity=t.severity,
                    title=f"Policy threshold: {name} {problem}",
                    detail=f"The policy bounds {cls.id} metric {name!r} "
                    f"(min={t.min}, max={t.max}); the measured value {problem}.",
                    remediation="Improve the model on this metric, or revise the policy "
                    "threshold with a documented justification.",
                    standards=cls.standards,
                    evidence={"metric": name, "value": metrics[name], "min": t.min, "max": t.max},
                )
            )
    return out


def _verdict(results: list[CheckResult], policy: Policy) -> tuple[Verdict, tuple[str, ...]]:
    """fail on findings at ``fail_on`` or a required check that did not run; incomplete
    (whatever else was found) when any check errored, since its answer is unknown."""
    reasons = []
    for r in results:
        worst = failing(r.findings, policy.fail_on)
        if worst:
            reasons.append(
                f"{r.id}: {len(worst)} finding(s) at or above {policy.fail_on.label} "
                f"(e.g. {worst[0].title})"
            )
        if r.status is CheckStatus.ERROR:
            reasons.append(f"{r.id}: could not finish ({r.reason})")
        elif r.id in policy.required and r.status is CheckStatus.SKIPPED:
            reasons.append(f"{r.id}: required by the policy but skipped ({r.reason})")
    if any(r.status is CheckStatus.ERROR for r in results):
        return Verdict.INCOMPLETE, tuple(reasons)
    return (Verdict.FAIL if reasons else Verdict.PASS), tuple(reasons)


def _report(
    target: Target,
    data: Dataset,
    train: Dataset | None,
    policy: Policy,
    budget: Budget,
    seed: int,
    results: list[CheckResult],
    total: float,
    subject: Mapping[str, Any] | None,
) -> Report:
    verdict, reasons = _verdict(results, policy)
    bounds = getattr(target, "bounds", None)
    info: dict[str, Any] = {
        "model": getattr(target, "name", type(target).__name__),
        "capabilities": list(capabilities(target)),
        "bounds": list(bounds) if bounds else None,
        "data": data.name,
        "n_samples": len(data),
        "n_train": len(train) if train is not None else None,
        "n_classes": data.n_classes,
        "sample_shape": list(data.sample_shape),
        "budget": budget.value,
        "seed": seed,
        "policy": policy.source,
        "fail_on": policy.fail_on.label,
    }
    info.update(subject or {})
    timings = {"total": total} | {r.id: r.duration_s for r in results}
    return Report(
        tool={"name": "aiarmor", "version": __version__},
        subject=info,
        verdict=verdict,
        checks=tuple(results),
        verdict_reasons=reasons,
        errors=tuple(f"{r.id}: {r.reason}" for r in results if r.status is CheckStatus.ERROR),
        timings=timings,
        created=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line[:300] + ("..." if len(line) > 300 else "")
