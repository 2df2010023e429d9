"""DP-SGD training as a hardener (:class:`aiarmor.core.hardener.Hardener`).

:class:`DPHardener` trains a fresh copy of a PyTorch target's architecture with DP-SGD
(:func:`~aiarmor.privacy.dp.train_dp`) to a target epsilon. Both audits run
``baseline.performance`` and ``privacy.membership``; the DP model's reference models for RMIA
and LiRA are trained with the same DP recipe (:func:`~aiarmor.privacy.dp.dp_recipe`), and the
section is :func:`~aiarmor.privacy.dp_compare.dp_section` (the DP-vs-empirical audit loop).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from aiarmor.core.findings import CheckResult
from aiarmor.core.hardener import Hardened
from aiarmor.core.policy import Policy
from aiarmor.core.report import Report
from aiarmor.privacy.dp import DPSettings, DPTrainingResult, dp_recipe, train_dp, validate_module
from aiarmor.privacy.dp_compare import dp_section
from aiarmor.privacy.recipes import attach_recipe

CHECKS = ("baseline.performance", "privacy.membership")
"""The checks both audits run."""
INFO_KEY = "dp"
"""Key of the DP settings and accounting in the report subject and ``comparison.json``."""


@dataclass(frozen=True, slots=True)
class DPHardener:
    """DP-SGD training of a fresh copy of a :class:`~aiarmor.targets.TorchTarget`'s module."""

    settings: DPSettings
    """Target epsilon, delta, accountant, clipping, epochs, ... and the seed."""
    checks: tuple[str, ...] = CHECKS
    """The checks both audits run."""
    model_file: str = "model.safetensors"
    """The DP weights' file name."""

    def validate(self, target: Any, train: Any, data: Any) -> None:
        """The settings, and whether DP-SGD can train the module (fails before the audit)."""
        self.settings.validate()
        validate_module(copy.deepcopy(target.module).train())

    def policy_for(self, policy: Policy, data: Any) -> Policy:
        """``policy`` as it is."""
        return policy

    def transform(self, target: Any, train: Any, data: Any) -> Hardened:
        """Train the architecture with DP-SGD on ``train``; attach the DP recipe."""
        from aiarmor.targets import TorchTarget

        template = copy.deepcopy(target.module)
        training = train_dp(copy.deepcopy(template), train, self.settings)
        name = f"{target.name} + DP-SGD (epsilon {training.epsilon:.3g})"
        dp_target = TorchTarget(training.model, n_classes=target.n_classes, bounds=target.bounds,
                                name=name)  # fmt: skip
        attach_recipe(dp_target, dp_recipe(lambda: copy.deepcopy(template), self.settings))
        info = {INFO_KEY: dp_info(training)}
        return Hardened(target=dp_target, model=training.model, result=training, info=info)

    def section(self, before: Report, after: Report, hardened: Hardened) -> CheckResult:
        """The ``privacy.dp_training`` section."""
        training = hardened.result
        return dp_section(before, after, epsilon=training.epsilon, delta=training.delta)


def dp_info(training: DPTrainingResult) -> dict[str, Any]:
    """The DP settings and accounting, JSON-ready."""
    return {
        **dataclasses.asdict(training.settings),
        "epsilon_spent": training.epsilon,
        "delta": training.delta,
        "noise_multiplier": training.noise_multiplier,
        "steps": training.steps,
        "sample_rate": training.sample_rate,
        "fixed_layers": list(training.fixed_layers),
    }
