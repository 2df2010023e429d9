"""The policy: security framework as code.

A TOML file sets, per check id, the check's parameters, generic metric thresholds, which checks
are required, the severity at which the verdict fails, and suppressions (each with a written
justification). The same file drives a local run and a CI gate.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiarmor.core.errors import ConfigError, PolicyError
from aiarmor.core.findings import Severity


@dataclass(frozen=True, slots=True)
class Threshold:
    """A bound on one metric of one check; crossing it yields a finding."""

    check_id: str
    """The check whose metric is bounded."""
    metric: str
    """The metric name."""
    min: float | None = None
    """The metric must be >= min."""
    max: float | None = None
    """The metric must be <= max."""
    severity: Severity = Severity.HIGH
    """Severity of the finding when crossed."""

    def violated_by(self, value: float) -> str | None:
        """A description of the violation, or None if ``value`` is within bounds."""
        if value != value:  # NaN
            return "is not a number"
        if self.min is not None and value < self.min:
            return f"= {value:.4g} is below the policy minimum {self.min:.4g}"
        if self.max is not None and value > self.max:
            return f"= {value:.4g} is above the policy maximum {self.max:.4g}"
        return None


@dataclass(frozen=True, slots=True)
class Suppression:
    """A documented decision to accept a check's findings."""

    check_id: str
    """The check whose findings are suppressed."""
    justification: str
    """Why (required, non-empty)."""
    titles: tuple[str, ...] = ()
    """If set, only findings whose title contains one of these strings."""
    expires: dt.date | None = None
    """After this date the suppression no longer applies."""

    def covers(self, check_id: str, title: str, today: dt.date) -> bool:
        """Whether a finding of ``check_id`` titled ``title`` is suppressed on ``today``."""
        if check_id != self.check_id or (self.expires is not None and today > self.expires):
            return False
        return not self.titles or any(t in title for t in self.titles)


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed, validated policy."""

    fail_on: Severity = Severity.HIGH
    """The verdict fails when an unsuppressed finding is at least this severe."""
    required: tuple[str, ...] = ()
    """Checks that must run and pass; skipped or errored counts as failed."""
    checks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-check parameter overrides."""
    thresholds: tuple[Threshold, ...] = ()
    """Generic metric thresholds."""
    suppressions: tuple[Suppression, ...] = ()
    """Accepted findings."""
    source: str | None = None
    """Where the policy came from (file path), for the report."""

    def params_for(self, check_id: str) -> Mapping[str, Any]:
        """The policy's parameter overrides for one check."""
        return self.checks.get(check_id, {})

    def suppression_for(self, check_id: str, title: str, today: dt.date) -> Suppression | None:
        """The first suppression that covers a finding, if any."""
        return next((s for s in self.suppressions if s.covers(check_id, title, today)), None)


_TOP_KEYS = {"policy", "checks", "thresholds", "suppress"}


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy TOML file (PolicyError with a one-line reason otherwise)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {p}: {exc}") from None
    return parse_policy(text, source=str(p))


def parse_policy(text: str, *, source: str | None = None) -> Policy:
    """Parse policy TOML text into a :class:`Policy`."""
    where = source or "policy"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where}: invalid TOML: {exc}") from None
    try:
        return _build(doc, source)
    except PolicyError:
        raise
    except ConfigError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def _build(doc: Mapping[str, Any], source: str | None) -> Policy:
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown top-level table(s): {', '.join(unknown)}")
    head = _table(doc, "policy")
    extra = sorted(set(head) - {"fail_on", "required"})
    if extra:
        raise ConfigError(f"unknown key(s) in [policy]: {', '.join(extra)}")
    fail_on = Severity.parse(head.get("fail_on", "high"))
    required = head.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ConfigError("policy.required must be a list of check ids")
    checks = {k: dict(_as_table(v, f"checks.{k}")) for k, v in _table(doc, "checks").items()}
    thresholds = tuple(_thresholds(_table(doc, "thresholds")))
    suppressions = tuple(_suppressions(_table(doc, "suppress")))
    return Policy(
        fail_on=fail_on,
        required=tuple(required),
        checks=checks,
        thresholds=thresholds,
        suppressions=suppressions,
        source=source,
    )


def _table(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return _as_table(doc.get(key, {}), key)


def _as_table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _thresholds(table: Mapping[str, Any]) -> list[Threshold]:
    out = []
    for check_id, metrics in table.items():
        for metric, spec in _as_table(metrics, f"thresholds.{check_id}").items():
            where = f"thresholds.{check_id}.{metric}"
            spec = _as_table(spec, where)
            extra = sorted(set(spec) - {"min", "max", "severity"})
            if extra:
                raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}")
            bounds = {k: spec.get(k) for k in ("min", "max")}
            for k, v in bounds.items():
                if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                    raise ConfigError(f"{where}.{k} must be a number")
                if v is not None and math.isnan(v):  # every comparison with nan passes
                    raise ConfigError(f"{where}.{k} must be a number, got nan")
            if bounds["min"] is None and bounds["max"] is None:
                raise ConfigError(f"{where}: needs min or max")
            out.append(
                Threshold(
                    check_id=check_id,
                    metric=metric,
                    min=None if bounds["min"] is None else float(bounds["min"]),
                    max=None if bounds["max"] is None else float(bounds["max"]),
                    severity=Severity.parse(spec.get("severity", "high")),
                )
            )
    return out


def _suppressions(table: Mapping[str, Any]) -> list[Suppression]:
    out = []
    for check_id, spec in table.items():
        where = f"suppress.{check_id}"
        spec = _as_table(spec, where)
        extra = sorted(set(spec) - {"justification", "titles", "expires"})
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(extra)}")
        just = spec.get("justification")
        if not isinstance(just, str) or not just.strip():
            raise ConfigError(f"{where}: a suppression needs a written justification")
        titles = spec.get("titles", [])
        if not isinstance(titles, list) or not all(isinstance(t, str) for t in titles):
            raise ConfigError(f"{where}.titles must be a list of strings")
        expires = spec.get("expires")
        if isinstance(expires, dt.datetime):  # a date-time lapses on its (UTC) date
            at = expires.astimezone(dt.UTC) if expires.tzinfo is not None else expires
            expires = at.date()
        if expires is not None and not isinstance(expires, dt.date):
            raise ConfigError(f"{where}.expires must be a TOML date (e.g. 2027-01-31)")
        out.append(Suppression(check_id, just.strip(), tuple(titles), expires))
    return out


STARTER_POLICY = """\
# aiarmor policy: security framework as code.
# The same file drives a local `aiarmor audit --policy policy.toml` and a CI gate
# (exit 0 = pass, 1 = policy failed, 2 = the tool could not do its job).
# `aiarmor checks --json` lists every check with its parameters and metric names.

[policy]
# The verdict fails when an unsuppressed finding is at least this severe:
# info | low | medium | high | critical
fail_on = "high"
# Checks that must run and pass; skipped or errored counts as a failure.
required = ["baseline.performance"]

# Check parameters, one table per check id.
[checks."baseline.performance"]
min_accuracy = 0.8          # below this: a high-severity finding
max_ece = 0.1               # expected calibration error above this: a finding

[checks."robustness.input_validation"]
confidence_threshold = 0.9  # an answer to garbage input above this confidence is a finding

# Generic thresholds on any metric a check reports: min and/or max, and the severity.
# [thresholds."baseline.performance".balanced_accuracy]
# min = 0.85
# severity = "medium"

# Accept findings you have reviewed; a written justification is required.
# [suppress."robustness.input_validation"]
# justification = "the serving gateway validates inputs (reviewed 2026-11-02)"
# titles = ["NaN"]          # optional: only findings whose title contains one of these
# expires = 2027-03-01      # optional: the suppression lapses after this date
"""
"""The commented starter policy that ``aiarmor init`` writes."""
