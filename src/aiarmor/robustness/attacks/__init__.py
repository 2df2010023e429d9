"""Evasion attacks in the template of :mod:`.base`: an attack only perturbs, the framework judges.

White-box (PyTorch targets): :class:`PGD` (and :func:`fgsm`, its one-step configuration),
:class:`APGD` (APGD-CE, APGD-DLR, APGD-T) and the minimum-norm :class:`FMN`; every one of them
can average its gradients over random draws of a randomized model (:mod:`.eot`).

Black-box (any target, queries counted): the score-based :class:`Square` and the
decision-based (labels only) :class:`HopSkipJump`.

Every attack is registered by name (:mod:`.registry`; the built-ins in
:mod:`aiarmor.robustness.budgets`): :func:`build_attack` makes one from its name and settings.
"""

from aiarmor.robustness.attacks.apgd import APGD, apgd_ce, apgd_dlr, apgd_t
from aiarmor.robustness.attacks.base import Attack, AttackResult, predict_labels, run_attack
from aiarmor.robustness.attacks.eot import is_randomized
from aiarmor.robustness.attacks.fmn import FMN, minimal_perturbations, widest_threat
from aiarmor.robustness.attacks.hopskipjump import HopSkipJump
from aiarmor.robustness.attacks.pgd import PGD, fgsm
from aiarmor.robustness.attacks.registry import (
    AttackSpec,
    build_attack,
    get_attack,
    register_attack,
    registered_attacks,
)
from aiarmor.robustness.attacks.square import Square

__all__ = [
    "APGD",
    "FMN",
    "PGD",
    "Attack",
    "AttackResult",
    "AttackSpec",
    "HopSkipJump",
    "Square",
    "apgd_ce",
    "apgd_dlr",
    "apgd_t",
    "build_attack",
    "fgsm",
    "get_attack",
    "is_randomized",
    "minimal_perturbations",
    "predict_labels",
    "register_attack",
    "registered_attacks",
    "run_attack",
    "widest_threat",
]
