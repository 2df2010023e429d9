"""Checks and their registry.

A check is a class with a stable ``id``, a docstring (what it detects, why it matters, its
standards mapping, references), declared parameters and metric names, and a ``run`` method that
is a pure function of (context) -> :class:`~aiarmor.core.findings.CheckOutcome`. The
orchestrator owns isolation, timing, policy thresholds and suppressions.

Checks register explicitly with ``@register``; a second check with the same id is rejected.
"""

from __future__ import annotations

import builtins
import enum
import inspect
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from aiarmor.core.capability import Capability, DatasetLike, Target, unmet
from aiarmor.core.errors import ConfigError, RegistryError
from aiarmor.core.findings import CheckOutcome, Finding, Severity
from aiarmor.core.standards import validate_refs


class Budget(enum.StrEnum):
    """How much work a check may spend: more queries, restarts, reference models."""

    QUICK = "quick"
    STANDARD = "standard"
    THOROUGH = "thorough"

    @classmethod
    def parse(cls, value: str | Budget) -> Budget:
        """Parse a budget name; ConfigError when unknown."""
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(
                f"unknown budget {value!r} (expected quick, standard or thorough)"
            ) from None


@dataclass(frozen=True, slots=True)
class Param:
    """A check parameter a policy may set."""

    name: str
    """Key in the policy's ``[checks."<id>"]`` table."""
    type: type
    """``float``, ``int``, ``bool``, ``str`` or ``list``."""
    default: Any
    """Value when the policy does not set it (``None``: unset)."""
    help: str
    """What it controls."""
    min: float | None = None
    """Smallest allowed value (numbers only)."""
    max: float | None = None
    """Largest allowed value (numbers only)."""
    min_exclusive: bool = False
    """When True the value must be strictly greater than ``min``."""
    item: builtins.type | None = None
    """For a ``list``: the type of every element (``min``/``max`` then bound each element)."""
    choices: tuple[str, ...] = ()
    """For a ``str`` (or a list of ``str``): the allowed values, compared case-insensitively."""

    def coerce(self, check_id: str, value: Any) -> Any:
        """Validate a policy value against the declared type and range (ConfigError)."""
        where = f"checks.{check_id}.{self.name}"
        value = _coerce_scalar(where, self.type, value)
        if self.type is list:
            if not value:
                raise ConfigError(f"{where}: must not be an empty list")
            if self.item is not None:
                value = [self._coerce_item(f"{where}[{i}]", v) for i, v in enumerate(value)]
        elif self.type in (int, float):
            self._check_range(where, value)
        elif self.choices:
            value = self._choose(where, value)
        return value

    def _coerce_item(self, where: str, value: Any) -> Any:
        item = self.item if self.item is not None else object
        value = _coerce_scalar(where, item, value)
        if item in (int, float):
            self._check_range(where, value)
        elif self.choices:
            value = self._choose(where, value)
        return value

    def _choose(self, where: str, value: str) -> str:
        for choice in self.choices:
            if value.lower() == choice.lower():
                return choice
        raise ConfigError(f"{where}: must be one of {', '.join(self.choices)}, got {value!r}")

    def _check_range(self, where: str, value: float) -> None:
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{where}: must be a finite number, got {value:g}")
        low_ok = self.min is None or (value > self.min if self.min_exclusive else value >= self.min)
        if not low_ok or (self.max is not None and value > self.max):
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            bracket = "(" if self.min_exclusive else "["
            raise ConfigError(f"{where}: must be in {bracket}{lo}, {hi}], got {value:g}")

    def describe(self) -> dict[str, Any]:
        """Discovery form for ``aiarmor checks --json``."""
        out = {"name": self.name, "type": self.type.__name__, "default": self.default}
        out["help"] = self.help
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


def _coerce_scalar(where: str, kind: type, value: Any) -> Any:
    """``value`` as ``kind`` (an int is a float; a bool is never a number), else ConfigError."""
    if kind is object:
        return value
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = is_number if kind is float else isinstance(value, kind)
    if kind is int and isinstance(value, bool):
        ok = False
    if not ok:
        raise ConfigError(f"{where}: expected {_TYPE_NAMES.get(kind, kind.__name__)}, got "
                          f"{_TYPE_NAMES.get(type(value), type(value).__name__)}")  # fmt: skip
    return float(value) if kind is float else value


_TYPE_NAMES = {float: "a number", int: "an integer", bool: "true or false", str: "a string",
               list: "a list", dict: "a table"}  # fmt: skip


class ProgressFn(Protocol):
    """Progress callback: ``advance(done, total, message)``."""

    def __call__(self, done: int, total: int, message: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything a check may use. Checks must not read global state.

    ``target`` is a :mod:`aiarmor.targets` target, seen through the
    :class:`~aiarmor.core.capability.Target` protocol because core imports nothing else of
    aiarmor. ``data``/``train`` are :class:`aiarmor.data.Dataset` objects, seen through the
    :class:`~aiarmor.core.capability.DatasetLike` protocol for the same reason (it lists all a
    check reads of a dataset: arrays, names, classes, the raw table, subsets). Every
    capability the check ``requires`` is there when ``run`` is called (the orchestrator skips
    the check otherwise); narrow the target with ``aiarmor.targets.as_scores`` /
    ``as_differentiable`` to use it.
    """

    target: Target
    """The model under test."""
    data: DatasetLike
    """The evaluation (held-out) dataset."""
    train: DatasetLike | None
    """The training dataset, when given."""
    params: Mapping[str, Any]
    """The check's parameters: declared defaults overlaid with the policy's values."""
    budget: Budget
    """The work budget."""
    seed: int
    """The run seed; use :meth:`rng` / :meth:`torch_seed` for check-local randomness."""
    check_id: str
    """The id of the running check."""
    progress: ProgressFn | None = None
    """Optional progress callback."""

    def rng(self) -> np.random.Generator:
        """A generator that depends only on the run seed and the check id."""
        return np.random.default_rng([self.seed, zlib.crc32(self.check_id.encode())])

    def torch_seed(self) -> int:
        """An integer seed that depends only on the run seed and the check id."""
        return (self.seed * 1_000_003 + zlib.crc32(self.check_id.encode())) % (2**63)

    def report(self, done: int, total: int, message: str = "") -> None:
        """Report progress if a callback is attached."""
        if self.progress is not None:
            self.progress(done, total, message)


class Check:
    """Base class of every check. Subclasses set the class attributes and implement run."""

    id: ClassVar[str]
    """Stable id, ``"<area>.<name>"``."""
    title: ClassVar[str]
    """Human title."""
    summary: ClassVar[str]
    """One sentence: what it detects."""
    standards: ClassVar[tuple[str, ...]]
    """Standards references the check as a whole maps to."""
    params: ClassVar[tuple[Param, ...]] = ()
    """Declared parameters."""
    metrics: ClassVar[tuple[str, ...]] = ()
    """Names of the metrics it reports (a trailing ``*`` marks a family, e.g. ``recall.*``)."""
    requires: ClassVar[tuple[Capability, ...]] = ()
    """Capabilities of the target or the data it cannot run without, most basic first. The
    orchestrator skips the check (naming the first one missing) without building it."""

    def applicable(self, ctx: CheckContext) -> str | None:
        """``None`` if the check can run on this context, else the reason to skip it.

        Only for conditions that are not capabilities (a class-count range, enough samples):
        ``requires`` is checked before this is called.
        """
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Measure and return metrics, findings and charts."""
        raise NotImplementedError  # pragma: no cover - abstract

    def finding(
        self,
        severity: Severity,
        title: str,
        detail: str,
        remediation: str,
        *,
        evidence: Mapping[str, Any] | None = None,
        standards: tuple[str, ...] | None = None,
    ) -> Finding:
        """Build a finding of this check (standards default to the check's own)."""
        return Finding(
            check_id=self.id,
            severity=severity,
            title=title,
            detail=detail,
            remediation=remediation,
            standards=validate_refs(self.standards if standards is None else standards),
            evidence=dict(evidence or {}),
        )

    @classmethod
    def resolve_params(cls, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``overrides``; unknown names and bad types raise ConfigError."""
        declared = {p.name: p for p in cls.params}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            names = ", ".join(declared) or "none"
            raise ConfigError(
                f"checks.{cls.id}: unknown parameter(s) {', '.join(unknown)} (known: {names})"
            )
        out = {p.name: p.default for p in cls.params}
        for p in cls.params:  # defaults obey the declared ranges too
            if p.default is not None:
                p.coerce(cls.id, p.default)
        for name, value in overrides.items():
            out[name] = declared[name].coerce(cls.id, value)
        return out

    @classmethod
    def skip_reason(cls, available: frozenset[Capability]) -> str | None:
        """The reason to skip when a required capability is not ``available``, else None."""
        missing = unmet(cls.requires, available)
        return missing[0].missing if missing else None

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The discovery form used by ``aiarmor checks --json``."""
        return {
            "id": cls.id,
            "title": cls.title,
            "summary": cls.summary,
            "description": inspect.cleandoc(cls.__doc__ or ""),
            "standards": list(cls.standards),
            "requires": [c.value for c in cls.requires],
            "parameters": [p.describe() for p in cls.params],
            "metrics": list(cls.metrics),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"


_REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: add a check to the registry (duplicate ids are rejected)."""
    for attr in ("id", "title", "summary", "standards"):
        if not hasattr(cls, attr):
            raise RegistryError(f"{cls.__name__} does not define {attr!r}")
    if not cls.__doc__:
        raise RegistryError(f"check {cls.id} needs a docstring")
    validate_refs(cls.standards)
    wrong = [c for c in cls.requires if not isinstance(c, Capability)]
    if wrong:
        raise RegistryError(
            f"check {cls.id}: requires must list Capability members, got {wrong!r} "
            f"(known: {', '.join(c.value for c in Capability)})"
        )
    if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
        raise RegistryError(f"check id {cls.id!r} is already registered")
    _REGISTRY[cls.id] = cls
    return cls


def unregister(check_id: str) -> None:
    """Remove a check (for tests and plugins)."""
    _REGISTRY.pop(check_id, None)


def registered() -> dict[str, type[Check]]:
    """A copy of the registry, id -> check class, sorted by id."""
    return dict(sorted(_REGISTRY.items()))


def get_check(check_id: str) -> type[Check]:
    """The check class for ``check_id`` (RegistryError when unknown)."""
    try:
        return _REGISTRY[check_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise RegistryError(f"unknown check {check_id!r} (known: {known})") from None
