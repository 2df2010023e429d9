"""Evasion attacks in the template of :mod:`.base`: an attack only perturbs, the framework judges.

White-box (PyTorch targets): :class:`PGD` (and :func:`fgsm`, its one-step configuration),
:class:`APGD` (APGD-CE, APGD-DLR, APGD-T) and the minimum-norm :class:`FMN`; every one of them
can average its gradients over random draws of a randomized model (:mod:`.eot`).

Black-box (any target, queries counted): the score-based :class:`Square` and the
decision-based (labels only) :class:`HopSkipJump`.
"""

from aiarmor.robustness.attacks.apgd import APGD, apgd_ce, apgd_dlr, apgd_t
from aiarmor.robustness.attacks.base import Attack, AttackResult, predict_labels, run_attack
from aiarmor.robustness.attacks.eot import is_randomized
from aiarmor.robustness.attacks.fmn import FMN, minimal_perturbations, widest_threat
from aiarmor.robustness.attacks.hopskipjump import HopSkipJump
from aiarmor.robustness.attacks.pgd import PGD, fgsm
from aiarmor.robustness.attacks.square import Square

__all__ = [
    "APGD",
    "FMN",
    "PGD",
    "Attack",
    "AttackResult",
    "HopSkipJump",
    "Square",
    "apgd_ce",
    "apgd_dlr",
    "apgd_t",
    "fgsm",
    "is_randomized",
    "minimal_perturbations",
    "predict_labels",
    "run_attack",
    "widest_threat",
]
