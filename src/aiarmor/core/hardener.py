"""What a mitigation is to ``aiarmor harden``: a :class:`Hardener` and the :class:`Hardened`
model it makes.

:func:`aiarmor.hardening.run_hardening` audits the original model, calls
:meth:`Hardener.transform`, audits the result with the same checks, data, budget and seed and
appends the :meth:`Hardener.section` to the later report. Each area implements its own
hardener (``robustness.hardening.AdversarialHardener``, ``privacy.dp_hardener.DPHardener``,
``fairness.hardener.FairnessHardener``, ``poisoning.sanitize_hardener.SanitizeHardener``).

The interface lives in core, like :class:`~aiarmor.core.registry.Check`: the areas build
:class:`Hardened` values and sit below :mod:`aiarmor.hardening`, which runs them. Targets and
datasets are typed ``Any`` here because core imports nothing else of aiarmor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from aiarmor.core.findings import CheckResult
from aiarmor.core.policy import Policy
from aiarmor.core.report import Report


@dataclass(frozen=True, slots=True)
class Hardened:
    """A hardened model, as a mitigation made it."""

    target: Any
    """The hardened model as a target: what the second audit runs on."""
    model: Any
    """What is saved: a ``torch.nn.Module`` (its weights) or a scikit-learn estimator."""
    result: Any
    """The area's own result (training history, DP accounting, the sanitized rows, ...)."""
    info: Mapping[str, Any]
    """JSON-ready settings under one key (e.g. ``{"dp": {...}}``): added to the hardened
    model's report subject and to ``comparison.json``."""
    data: Any = None
    """The held-out data as the hardened model takes it; None: the original held-out data."""
    train: Any = None
    """The training data of the second audit; None: the original training data."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More fields of ``comparison.json`` (after the before/after rows)."""
    data_file: str | None = None
    """File name to save :attr:`data` under (``.npz``), so the saved model can be audited
    again; None: nothing to save."""


@runtime_checkable
class Hardener(Protocol):
    """A mitigation: how it changes a model and how it reads the two audits."""

    @property
    def checks(self) -> tuple[str, ...]:
        """The checks both audits run."""
        ...

    @property
    def model_file(self) -> str:
        """File name of the saved model: ``*.safetensors`` (weights for the same model
        factory) or ``*.skops`` (the whole estimator)."""
        ...

    def validate(self, target: Any, train: Any, data: Any) -> None:
        """Raise ConfigError for what would make :meth:`transform` fail, before any audit."""
        ...

    def policy_for(self, policy: Policy, data: Any) -> Policy:
        """The policy both audits run with (``policy`` itself unless the mitigation needs a
        parameter of its own measured, like the training epsilon)."""
        ...

    def transform(self, target: Any, train: Any, data: Any) -> Hardened:
        """Mitigate: the hardened model, trained or fitted on ``train``."""
        ...

    def section(self, before: Report, after: Report, hardened: Hardened) -> CheckResult:
        """The before/after section of the hardened model's report."""
        ...
