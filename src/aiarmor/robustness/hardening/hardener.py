"""Adversarial training as a hardener (:class:`aiarmor.core.hardener.Hardener`).

:class:`AdversarialHardener` trains a copy of a PyTorch target's module with PGD adversarial
training or TRADES (:func:`~aiarmor.robustness.hardening.adversarial_training`); both audits
run ``baseline.performance`` and ``robustness.evasion`` with the training norm and epsilon in
the evasion grid (:func:`with_training_epsilon`), and the section is
:func:`~aiarmor.robustness.hardening.robustness_comparison`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiarmor.core.findings import CheckResult
from aiarmor.core.hardener import Hardened
from aiarmor.core.policy import Policy
from aiarmor.core.report import Report
from aiarmor.robustness.hardening.compare import robustness_comparison
from aiarmor.robustness.hardening.training import (
    EpochStats,
    TrainingConfig,
    TrainingResult,
    adversarial_training,
)

CHECKS = ("baseline.performance", "robustness.evasion")
"""The checks both audits run (unless more are asked for)."""
EVASION = "robustness.evasion"
INFO_KEY = "hardening"
"""Key of the training settings in the report subject and ``comparison.json``."""


@dataclass(frozen=True, slots=True)
class AdversarialHardener:
    """Adversarial training of a :class:`~aiarmor.targets.TorchTarget`'s module."""

    config: TrainingConfig
    """Method, epsilon, norm, bounds, epochs, ... and the seed of the training."""
    checks: tuple[str, ...] = CHECKS
    """The checks both audits run."""
    on_epoch: Callable[[EpochStats], None] | None = None
    """Called after each training epoch."""
    model_file: str = "model.safetensors"
    """The hardened weights' file name."""

    def validate(self, target: Any, train: Any, data: Any) -> None:
        """Nothing to check before the audit: the config validated itself."""

    def policy_for(self, policy: Policy, data: Any) -> Policy:
        """``policy`` with the training epsilon in the evasion grid."""
        return with_training_epsilon(policy, self.config, data.sample_shape)

    def transform(self, target: Any, train: Any, data: Any) -> Hardened:
        """Train a copy of ``target.module`` on ``train``; the original is left as it was."""
        from aiarmor.targets import TorchTarget

        training = adversarial_training(target.module, train.x, train.y, config=self.config,
                                        progress=self.on_epoch)  # fmt: skip
        name = f"{target.name} + {self.config.method} adversarial training"
        hardened = TorchTarget(training.model, n_classes=target.n_classes, bounds=target.bounds,
                               name=name)  # fmt: skip
        info = {INFO_KEY: hardening_info(training)}
        return Hardened(target=hardened, model=training.model, result=training, info=info)

    def section(self, before: Report, after: Report, hardened: Hardened) -> CheckResult:
        """The ``robustness.hardening`` section."""
        cfg = self.config
        return robustness_comparison(before, after, method=cfg.method, epsilon=cfg.epsilon,
                                     norm=cfg.norm.value)  # fmt: skip


def hardening_info(training: TrainingResult) -> dict[str, Any]:
    """The training settings and per-epoch history, JSON-ready."""
    cfg = training.config
    settings = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    optimizer = cfg.optimizer if isinstance(cfg.optimizer, str) else "custom"
    settings |= {"norm": cfg.norm.value, "bounds": list(cfg.bounds), "step_size": cfg.step_size,
                 "optimizer": optimizer}  # fmt: skip
    return {**settings, "history": [s.to_dict() for s in training.history]}


def with_training_epsilon(
    policy: Policy, config: TrainingConfig, sample_shape: tuple[int, ...]
) -> Policy:
    """``policy`` with the training norm and epsilon in the evasion grid, unless it sets them."""
    from aiarmor.robustness.evasion import default_epsilons

    params = dict(policy.params_for(EVASION))
    if "epsilons" in params or str(params.get("norm", config.norm.value)) != config.norm.value:
        return policy
    dims = math.prod(sample_shape)
    grid = default_epsilons(config.norm, config.bounds, dims)
    params |= {"norm": config.norm.value, "epsilons": sorted({*grid, config.epsilon})}
    return dataclasses.replace(policy, checks={**policy.checks, EVASION: params})
