"""The built-in attacks, registered by name, and the evasion budgets that use them, as data.

:data:`EVASION_BUDGETS` says, per budget (quick, standard, thorough), which registered attacks
:func:`~aiarmor.robustness.evaluation.evaluate_robustness` runs, in which order and with which
settings, for each level of access to the model (the first ensemble whose capability the target
has is used: gradients, else scores, else labels), plus the minimum-norm attack, the EOT sample
count for randomized models and the black-box attack of the masking diagnostics.

Adding an attack: write its module (an :class:`~aiarmor.robustness.attacks.base.Attack`
subclass), then register it below and name it in the budgets that should run it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiarmor.core.capability import Capability
from aiarmor.core.errors import ConfigError
from aiarmor.core.registry import Budget
from aiarmor.robustness.attacks.apgd import APGD
from aiarmor.robustness.attacks.base import Attack
from aiarmor.robustness.attacks.fmn import FMN
from aiarmor.robustness.attacks.hopskipjump import HopSkipJump
from aiarmor.robustness.attacks.pgd import PGD
from aiarmor.robustness.attacks.registry import get_attack, register_attack
from aiarmor.robustness.attacks.square import Square

register_attack("PGD", PGD)
register_attack("FGSM", PGD, steps=1, rel_stepsize=1.0, random_start=False, restarts=1)
register_attack("APGD-CE", APGD, loss="ce")
register_attack("APGD-DLR", APGD, loss="dlr")
register_attack("APGD-T", APGD, loss="dlr", targeted=True)
register_attack("FMN", FMN)
register_attack("Square", Square)
register_attack("HopSkipJump", HopSkipJump)


@dataclass(frozen=True, slots=True)
class AttackStep:
    """One attack of a budget: a registered name and the settings it runs with."""

    attack: str
    """The registered name (also the name reports show)."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Keyword settings on top of the attack's preset."""
    capped_by_classes: tuple[str, ...] = ()
    """Integer settings capped at the target's number of classes minus one (at least 1), such
    as APGD-T's number of target classes."""

    def build(self, n_classes: int, eot_samples: int = 1) -> Attack[Any]:
        """The attack for a target of ``n_classes``; ``eot_samples`` > 1 is passed to attacks
        that average gradients over random draws."""
        spec = get_attack(self.attack)
        settings = dict(self.settings)
        for name in self.capped_by_classes:
            settings[name] = min(int(settings[name]), max(n_classes - 1, 1))
        if eot_samples > 1 and "eot_samples" in spec.settings:
            settings["eot_samples"] = eot_samples
        return spec.build(**settings)


def _step(attack: str, *, capped: Iterable[str] = (), **settings: Any) -> AttackStep:
    return AttackStep(attack, settings, tuple(capped))


@dataclass(frozen=True, slots=True)
class EvasionBudget:
    """What one budget of the evasion evaluation runs."""

    ensembles: tuple[tuple[Capability, tuple[AttackStep, ...]], ...]
    """(capability, attacks in order) from the richest access down; a target gets the first
    ensemble whose capability it has."""
    min_norm: AttackStep
    """The minimum-norm attack (FMN) giving each sampled point's smallest perturbation."""
    min_norm_points: int | None
    """Clean-correct points the minimum-norm attack runs on (None: all)."""
    eot_samples: int
    """Gradient samples per step on a randomized model."""
    black_box_probe: AttackStep
    """The gradient-free attack of the ``black_box`` masking diagnostic."""

    def ensemble_for(self, available: frozenset[Capability]) -> tuple[AttackStep, ...]:
        """The ensemble for a target offering ``available`` (empty when none fits)."""
        for capability, steps in self.ensembles:
            if capability in available:
                return steps
        return ()


EVASION_BUDGETS: Mapping[Budget, EvasionBudget] = {
    Budget.QUICK: EvasionBudget(
        ensembles=(
            (Capability.GRADIENTS, (_step("APGD-CE", steps=25),)),
            (Capability.SCORES, (_step("Square", n_queries=300),)),
            (Capability.LABELS, (_step("HopSkipJump", max_queries=1000),)),
        ),
        min_norm=_step("FMN", steps=40),
        min_norm_points=50,
        eot_samples=5,
        black_box_probe=_step("Square", n_queries=200),
    ),
    Budget.STANDARD: EvasionBudget(
        ensembles=(
            (Capability.GRADIENTS, (_step("APGD-CE", steps=100), _step("APGD-T", n_targets=3))),
            (Capability.SCORES, (_step("Square", n_queries=1000),)),
            (Capability.LABELS, (_step("HopSkipJump", max_queries=2500),)),
        ),
        min_norm=_step("FMN", steps=100),
        min_norm_points=100,
        eot_samples=10,
        black_box_probe=_step("Square", n_queries=1000),
    ),
    Budget.THOROUGH: EvasionBudget(
        ensembles=(
            (Capability.GRADIENTS, (
                _step("APGD-CE", steps=100, restarts=3),
                _step("APGD-T", n_targets=9, capped=("n_targets",)),
                _step("APGD-DLR", steps=100),
                _step("Square", n_queries=5000),
            )),
            (Capability.SCORES, (_step("Square", n_queries=5000),)),
            (Capability.LABELS, (_step("HopSkipJump", max_queries=10000),)),
        ),
        min_norm=_step("FMN", steps=200),
        min_norm_points=None,
        eot_samples=20,
        black_box_probe=_step("Square", n_queries=5000),
    ),
}  # fmt: skip
"""The evasion evaluation's attacks per budget."""


def evasion_budget(budget: str | Budget) -> EvasionBudget:
    """The plan of ``budget`` (ConfigError when unknown)."""
    try:
        return EVASION_BUDGETS[Budget(budget)]
    except ValueError:
        names = tuple(b.value for b in EVASION_BUDGETS)
        raise ConfigError(f"unknown budget {budget!r} (expected one of {names})") from None
