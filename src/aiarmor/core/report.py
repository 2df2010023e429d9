"""The audit report: the versioned JSON contract's in-memory form."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiarmor.core.findings import CheckResult, CheckStatus, Finding, Severity, _jsonable

SCHEMA_VERSION = "2.0"
"""Version of the report contract; its major part is bumped on any incompatible change
(2.0: the verdict ``incomplete`` for an audit in which a check could not finish)."""


class Verdict(enum.StrEnum):
    """The report's overall verdict under its policy."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INCOMPLETE = "incomplete"
    """A check could not finish, so the audit cannot say pass (exit code 2)."""


@dataclass(frozen=True, slots=True)
class Report:
    """The result of one audit."""

    tool: Mapping[str, str]
    """``{"name": "aiarmor", "version": ...}``."""
    subject: Mapping[str, Any]
    """What was audited: model, data, sizes, seed, budget, policy."""
    verdict: Verdict
    """pass or fail under the policy; incomplete when a check errored."""
    checks: tuple[CheckResult, ...]
    """Every selected check, in run order."""
    verdict_reasons: tuple[str, ...] = ()
    """Why the verdict is fail or incomplete (empty when it passes)."""
    errors: tuple[str, ...] = ()
    """Run-level errors (one line each), e.g. a check that crashed."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Wall times in seconds: ``total`` and one per check id."""
    created: str = ""
    """ISO-8601 UTC time the report was made."""

    @property
    def findings(self) -> tuple[Finding, ...]:
        """All findings of all checks, most severe first (stable within a severity)."""
        every = [f for c in self.checks for f in c.findings]
        return tuple(sorted(every, key=lambda f: -int(f.severity)))

    @property
    def exit_code(self) -> int:
        """0 passed, 1 the policy failed, 2 the audit is incomplete (fail closed)."""
        if self.verdict is Verdict.INCOMPLETE or any(
            c.status is CheckStatus.ERROR for c in self.checks
        ):
            return 2
        return 1 if self.verdict is Verdict.FAIL else 0

    @property
    def fail_on(self) -> Severity:
        """The policy severity at which a finding fails the verdict (from the subject)."""
        return Severity.parse(str(self.subject.get("fail_on", "high")))

    def check(self, check_id: str) -> CheckResult:
        """The result of one check (KeyError when it was not run)."""
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report contract (see ``aiarmor/reporting/report.schema.json``)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": dict(self.tool),
            "created": self.created,
            "subject": _jsonable(dict(self.subject)),
            "verdict": self.verdict.value,
            "verdict_reasons": list(self.verdict_reasons),
            "summary": self.summary(),
            "checks": [c.to_dict() for c in self.checks],
            "findings": [f.to_dict() for f in self.findings],
            "errors": list(self.errors),
            "timings": {k: round(v, 4) for k, v in self.timings.items() if math.isfinite(v)},
        }

    def summary(self) -> dict[str, Any]:
        """Counts of checks by status and unsuppressed findings by severity."""
        by_status = {s.value: 0 for s in CheckStatus}
        for c in self.checks:
            by_status[c.status.value] += 1
        by_sev = {s: 0 for s in ("critical", "high", "medium", "low", "info")}
        for f in self.findings:
            if not f.suppressed:
                by_sev[f.severity.label] += 1
        suppressed = sum(f.suppressed for f in self.findings)
        return {"checks": by_status, "findings": by_sev, "suppressed": suppressed}
