"""Results as data: severities, findings, charts and check results.

Everything here is a frozen, slotted dataclass: created once by a check or the orchestrator
and never mutated afterwards.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiarmor.core.errors import ConfigError


class Severity(enum.IntEnum):
    """How bad a finding is; ordered, so ``Severity.HIGH > Severity.LOW``."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        """Parse ``"high"`` (any case) or a ``Severity``; raise ConfigError otherwise."""
        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ConfigError(f"unknown severity {value!r} (expected one of: {names})") from None

    @property
    def label(self) -> str:
        """The lower-case name used in reports and policies (``"high"``)."""
        return self.name.lower()


class CheckStatus(enum.StrEnum):
    """Outcome of one check in a report."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


def status_of(findings: Iterable[Finding], fail_on: Severity) -> CheckStatus:
    """The one rule for a check that ran: failed when an unsuppressed finding reaches the
    policy's ``fail_on`` severity, else passed (findings below it are reported, not failed).

    The verdict uses the same rule, so a report never shows a failed check beside a passing
    verdict (or a check that failed the verdict shown as passed).
    """
    return CheckStatus.FAILED if failing(findings, fail_on) else CheckStatus.PASSED


def failing(findings: Iterable[Finding], fail_on: Severity) -> list[Finding]:
    """The findings that fail a verdict: unsuppressed and at least ``fail_on``, in order."""
    return [f for f in findings if not f.suppressed and f.severity >= fail_on]


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a file a finding was made (the scanner's findings carry one; audit findings,
    which are about a model's behaviour, do not)."""

    path: str
    """The file as it was given (relative or absolute, never a URI)."""
    member: str | None = None
    """The member of an archive or container, e.g. ``"archive/data.pkl"``; members of nested
    archives are joined with ``!`` (``"inner.zip!data.pkl"``). None for the file itself."""
    offset: int | None = None
    """Byte offset inside the member (or the file when ``member`` is None), when known."""

    @property
    def display(self) -> str:
        """The scanner's one-string form: ``path``, or ``path!member`` for a member."""
        return self.path if self.member is None else f"{self.path}!{self.member}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``path``, plus ``member`` and ``offset`` when known."""
        out: dict[str, Any] = {"path": self.path}
        if self.member is not None:
            out["member"] = self.member
        if self.offset is not None:
            out["offset"] = self.offset
        return out


@dataclass(frozen=True, slots=True)
class Finding:
    """One security-relevant observation produced by a check or the model-file scanner.

    A scan finding is a Finding with a :class:`Location`; its ``check_id`` is the scanner's
    rule id (``"scan.pickle.dangerous_callable"``).
    """

    check_id: str
    """Id of the check that produced it, e.g. ``"baseline.performance"``."""
    severity: Severity
    """How bad it is."""
    title: str
    """One-line summary."""
    detail: str
    """What was observed and why it matters."""
    remediation: str
    """What to do about it."""
    standards: tuple[str, ...] = ()
    """Standards references, e.g. ``("ATLAS:AML.T0043", "OWASP-ML:ML01")``."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """Machine-readable evidence (numbers, masked examples); JSON-serializable."""
    suppressed: bool = False
    """True when a policy suppression covers it; it then does not affect the verdict."""
    justification: str | None = None
    """The policy's written justification when suppressed."""
    location: Location | None = None
    """The file (and member, offset) it was found in; None for findings about behaviour."""

    def to_dict(self) -> dict[str, Any]:
        """The report-contract form of this finding."""
        out: dict[str, Any] = {
            "check_id": self.check_id,
            "severity": self.severity.label,
            "title": self.title,
            "detail": self.detail,
            "evidence": _jsonable(dict(self.evidence)),
            "remediation": self.remediation,
            "standards": list(self.standards),
            "suppressed": self.suppressed,
        }
        if self.justification is not None:
            out["justification"] = self.justification
        if self.location is not None:  # only when set: audit findings keep their exact form
            out["location"] = self.location.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Series:
    """One data series of a chart."""

    name: str
    """Legend label."""
    x: tuple[float | str, ...]
    """X values (numbers) or category labels."""
    y: tuple[float, ...]
    """Y values, one per x."""
    yerr: tuple[float, ...] | None = None
    """Optional symmetric error bars, one per y."""


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart described as data; the HTML report renders it (checks never plot)."""

    id: str
    """Stable id, unique within its check."""
    title: str
    """Chart title."""
    kind: str
    """``"bar"``, ``"line"``, ``"reliability"`` (a calibration diagram with the diagonal),
    ``"heatmap"`` (an image: one series per row, its y values the pixels) or ``"roc"`` (ROC
    curves on log-log axes, to read true-positive rates at low false-positive rates)."""
    series: tuple[Series, ...]
    """The data."""
    x_label: str = ""
    """X axis label."""
    y_label: str = ""
    """Y axis label."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the data behind the chart)."""
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "series": [
                {
                    "name": s.name,
                    "x": [v if isinstance(v, str) else _num(v) for v in s.x],
                    "y": [_num(v) for v in s.y],
                    **({"yerr": [_num(v) for v in s.yerr]} if s.yerr is not None else {}),
                }
                for s in self.series
            ],
        }


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What a check's ``run`` returns: its measurements, findings and charts."""

    metrics: Mapping[str, float]
    """Flat metric name -> number map."""
    findings: tuple[Finding, ...] = ()
    """Findings, in the order the check produced them."""
    charts: tuple[Chart, ...] = ()
    """Charts for the HTML report."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's entry in a report, as recorded by the orchestrator."""

    id: str
    """The check id."""
    title: str
    """Human title of the check."""
    status: CheckStatus
    """passed, failed, skipped or error."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """Flat metric name -> number map (NaN is reported as null)."""
    findings: tuple[Finding, ...] = ()
    """Findings of this check (also listed at the report's top level)."""
    charts: tuple[Chart, ...] = ()
    """Charts for the HTML report."""
    reason: str | None = None
    """Why the check was skipped or errored."""
    duration_s: float = 0.0
    """Wall time the check took."""
    standards: tuple[str, ...] = ()
    """The standards the check as a whole maps to."""

    def to_dict(self) -> dict[str, Any]:
        """The report-contract form of this check."""
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "metrics": {k: _num(v) for k, v in self.metrics.items()},
            "standards": list(self.standards),
            "duration_s": round(self.duration_s, 4),
            "charts": [c.to_dict() for c in self.charts],
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def _num(value: float) -> float | None:
    """A JSON-safe number: NaN and infinities become None."""
    v = float(value)
    return v if math.isfinite(v) else None


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and tuples inside evidence to plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _jsonable(value.tolist())
    if isinstance(value, float):
        return _num(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
