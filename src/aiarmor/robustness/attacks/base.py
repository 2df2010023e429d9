"""The attack template (foolbox 3 style): attacks only perturb; the framework judges.

An attack implements :meth:`Attack.perturb`. :func:`run_attack` is the only way results are
produced: it attacks just the samples the model classifies correctly, projects the output into
the threat model's ball and the input bounds, re-queries the model itself, and returns an
:class:`AttackResult` with the success mask, perturbation norms and the query count, so no
attack can misreport its own success.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch

from aiarmor.core.capability import Capability
from aiarmor.core.errors import ConfigError
from aiarmor.robustness.threat import ThreatModel
from aiarmor.targets.base import DifferentiableTarget, Target, target_capabilities

TargetT = TypeVar("TargetT", bound=Target, contravariant=True)
"""The kind of target an attack perturbs for (the protocol of its ``needs``)."""


class Attack(abc.ABC, Generic[TargetT]):
    """Base class: hyperparameters are keyword-only dataclass fields; ``__repr__`` shows them.

    Subclasses are ``@dataclass(frozen=True, kw_only=True)``, name the target protocol they
    work on (``Attack[DifferentiableTarget]``, ``Attack[ScoreTarget]``, ``Attack[Target]``) and
    set ``needs`` to the matching capability: ``Capability.GRADIENTS`` (white-box),
    ``Capability.SCORES`` or ``Capability.LABELS``. They register by name in
    :mod:`aiarmor.robustness.attacks.registry`.
    """

    needs: ClassVar[Capability] = Capability.GRADIENTS
    """The target capability the attack requires."""

    @abc.abstractmethod
    def perturb(
        self,
        target: TargetT,
        x: torch.Tensor,
        y: torch.Tensor,
        threat: ThreatModel,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Adversarial candidates for ``x`` (labels ``y``); the framework projects and judges."""

    def supports(self, target: object) -> bool:
        """Whether ``target`` has the capability this attack needs."""
        return self.needs in target_capabilities(target)

    def __repr__(self) -> str:
        # Every dataclass entry, including an annotated ``needs`` class variable, shown by its
        # plain value: reports have always listed attacks this way (``needs='gradients'``).
        names = list(getattr(self, "__dataclass_fields__", {}))
        args = ", ".join(f"{n}={_plain(getattr(self, n))!r}" for n in names)
        return f"{type(self).__name__}({args})"


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


@dataclass(frozen=True, slots=True)
class AttackResult:
    """What one attack achieved on a batch, as judged by the framework."""

    attack: str
    """``repr`` of the attack (its hyperparameters)."""
    threat: ThreatModel
    """The threat model it ran under."""
    x_adv: torch.Tensor
    """Adversarial inputs (the clean input where the sample was misclassified to begin with)."""
    clean_correct: torch.Tensor
    """Bool mask: the model classified the clean input correctly."""
    success: torch.Tensor
    """Bool mask: clean-correct and the model misclassifies ``x_adv`` (re-verified)."""
    norms: torch.Tensor
    """Per-sample perturbation size in the threat model's norm."""
    queries: int
    """Model queries (samples) the attack and its verification used."""

    @property
    def robust(self) -> torch.Tensor:
        """Bool mask: still correctly classified under attack."""
        return self.clean_correct & ~self.success

    @property
    def robust_accuracy(self) -> float:
        """Fraction of all samples still correctly classified under attack."""
        return float(self.robust.float().mean()) if len(self.robust) else float("nan")

    @property
    def clean_accuracy(self) -> float:
        """Fraction of all samples classified correctly without attack."""
        n = len(self.clean_correct)
        return float(self.clean_correct.float().mean()) if n else float("nan")


def predict_labels(target: Target, x: torch.Tensor) -> torch.Tensor:
    """Labels for ``x`` from any target: torch end to end for white-box targets."""
    if isinstance(target, DifferentiableTarget):
        with torch.inference_mode():
            return target.logits(x).argmax(dim=1)
    labels = target.predict(x.detach().cpu().numpy())
    return torch.as_tensor(np.asarray(labels), dtype=torch.long)


def run_attack(
    attack: Attack[Any],
    target: Target,
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    threat: ThreatModel,
    *,
    seed: int = 0,
) -> AttackResult:
    """Run ``attack`` on the correctly classified samples of ``(x, y)`` and judge it."""
    if not attack.supports(target):
        raise ConfigError(f"{type(attack).__name__} needs a target with {attack.needs}")
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.long)
    if x.shape[0] != y.shape[0]:
        raise ConfigError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
    q0 = int(getattr(target, "queries", 0))
    clean_correct = predict_labels(target, x) == y
    idx = clean_correct.nonzero().flatten()
    x_adv = x.clone()
    success = torch.zeros_like(clean_correct)
    if len(idx):
        gen = torch.Generator().manual_seed(seed)
        cand = attack.perturb(target, x[idx], y[idx], threat, gen).detach()
        if cand.shape != x[idx].shape:
            raise RuntimeError(f"{attack!r} returned shape {tuple(cand.shape)}")
        cand = threat.project(x[idx], cand.to(x.dtype))
        fooled = predict_labels(target, cand) != y[idx]
        success[idx] = fooled
        x_adv[idx[fooled]] = cand[fooled]
    return AttackResult(
        attack=repr(attack),
        threat=threat,
        x_adv=x_adv,
        clean_correct=clean_correct,
        success=success,
        norms=threat.norms(x_adv - x),
        queries=int(getattr(target, "queries", 0)) - q0,
    )
