"""Sanitize and retrain as a hardener (:class:`aiarmor.core.hardener.Hardener`).

:class:`SanitizeHardener` flags suspected poison in the training data with the model's
representations, removes (or relabels) it and retrains with the user's recipe
(:func:`~aiarmor.poisoning.sanitize_and_retrain`). Both audits run ``baseline.performance``
and the two training-set detectors, the second one on the sanitized training data; the
section is :func:`~aiarmor.poisoning.sanitize_compare.sanitize_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiarmor.core.errors import ConfigError
from aiarmor.core.findings import CheckResult
from aiarmor.core.hardener import Hardened
from aiarmor.core.policy import Policy
from aiarmor.core.report import Report
from aiarmor.poisoning.sanitize import METHODS, TrainFn, Trigger, sanitize_and_retrain
from aiarmor.poisoning.sanitize_compare import sanitize_section

CHECKS = ("baseline.performance", "poisoning.spectral", "poisoning.activation_clustering")
"""The checks both audits run."""
INFO_KEY = "sanitize"
"""Key of the sanitize settings in the report subject and ``comparison.json``."""


@dataclass(frozen=True, slots=True)
class SanitizeHardener:
    """Remove or relabel suspected poison, retrain with ``train_fn``."""

    train_fn: TrainFn
    """The training recipe: ``train_fn(x, y, seed)`` returns a freshly trained module."""
    method: str = "both"
    """Detector: ``spectral``, ``activation_clustering`` or ``both`` (their union)."""
    relabel: bool = False
    """Relabel the flagged rows with their runner-up class instead of removing them."""
    trigger: Trigger | None = None
    """The known trigger, to measure attack success (with ``target_class``)."""
    target_class: int | None = None
    """The trigger's target class."""
    seed: int = 0
    """Seed of the detectors and the retraining."""
    checks: tuple[str, ...] = CHECKS
    """The checks both audits run."""
    model_file: str = "model.safetensors"
    """The retrained weights' file name."""

    def validate(self, target: Any, train: Any, data: Any) -> None:
        """A known method; the trigger and its target class go together and name a class."""
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if (self.trigger is None) != (self.target_class is None):
            raise ConfigError("give both the trigger and the target class, or neither")
        if self.target_class is not None and not 0 <= self.target_class < target.n_classes:
            raise ConfigError(f"the target class must be in 0..{target.n_classes - 1}")

    def policy_for(self, policy: Policy, data: Any) -> Policy:
        """``policy`` as it is."""
        return policy

    def transform(self, target: Any, train: Any, data: Any) -> Hardened:
        """Detect, sanitize ``train``, retrain; the second audit uses the sanitized data."""
        from aiarmor.targets import TorchTarget

        result = sanitize_and_retrain(
            target, train, data, train_fn=self.train_fn, method=self.method,
            relabel=self.relabel, trigger=self.trigger, target_class=self.target_class,
            seed=self.seed,
        )  # fmt: skip
        retrained = TorchTarget(result.model, n_classes=target.n_classes, bounds=target.bounds,
                                name=f"{target.name} (sanitized)")  # fmt: skip
        info = {"method": self.method, "relabel": self.relabel,
                "n_changed": len(result.sanitized.changed),
                "poisoned_classes": list(result.detection.poisoned_classes)}  # fmt: skip
        return Hardened(target=retrained, model=result.model, result=result,
                        info={INFO_KEY: info}, train=result.sanitized.data,
                        extra={"changed_rows": result.sanitized.changed.tolist()})  # fmt: skip

    def section(self, before: Report, after: Report, hardened: Hardened) -> CheckResult:
        """The ``poisoning.sanitize`` section."""
        return sanitize_section(before, after, hardened.result)
