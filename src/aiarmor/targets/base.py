"""The model under test, seen through capabilities.

Every target answers label queries and counts them (black-box access, as a remote endpoint
gives): :class:`Target`, defined in :mod:`aiarmor.core.capability` so the orchestrator can type
it. Richer access is a further protocol a target may also satisfy:

* :class:`ScoreTarget` - returns class probabilities (score-based black-box attacks, calibration);
* :class:`DifferentiableTarget` - a PyTorch module whose logits can be differentiated with
  respect to the input (white-box attacks) and whose layers can be read (representations).

:func:`target_capabilities` maps a target to the :class:`~aiarmor.core.capability.Capability`
members it offers. A check declares what it needs in ``Check.requires`` and the orchestrator
skips it, with a reason, when the target lacks it; inside ``run`` the check narrows the target
with :func:`as_scores` / :func:`as_differentiable`. An attack declares ``Attack.needs`` and
:func:`~aiarmor.robustness.attacks.base.run_attack` refuses a target without it.

Inputs at this boundary are NumPy arrays in the data's natural range, one sample per row of
the first axis; adapters cast numeric input to the model's dtype and otherwise pass it through
unvalidated, so checks can observe how the model itself handles malformed input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from aiarmor.core.capability import Capability, Target
from aiarmor.core.errors import CheckError

if TYPE_CHECKING:
    import torch

__all__ = [
    "ACCESS_LEVELS",
    "DifferentiableTarget",
    "ScoreTarget",
    "Target",
    "as_differentiable",
    "as_scores",
    "capabilities",
    "target_capabilities",
]


@runtime_checkable
class ScoreTarget(Target, Protocol):
    """A target that also returns class probabilities."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``."""
        ...


@runtime_checkable
class DifferentiableTarget(ScoreTarget, Protocol):
    """A white-box PyTorch target: gradients of logits with respect to the input."""

    module: torch.nn.Module
    """The model, in eval mode with frozen parameters."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a float32 input tensor in the natural range (normalization inside)."""
        ...


ACCESS_LEVELS = (Capability.LABELS, Capability.SCORES, Capability.GRADIENTS)
"""The three levels of access to a model, from black-box to white-box (what reports list)."""


def target_capabilities(target: object) -> frozenset[Capability]:
    """The target capabilities ``target`` offers (labels, scores, gradients, representations)."""
    caps = set()
    if isinstance(target, Target):
        caps.add(Capability.LABELS)
    if isinstance(target, ScoreTarget):
        caps.add(Capability.SCORES)
    if isinstance(target, DifferentiableTarget):
        caps |= {Capability.GRADIENTS, Capability.REPRESENTATIONS}
    return frozenset(caps)


def capabilities(target: object) -> tuple[str, ...]:
    """The access levels a target has, as reports list them: ``labels``, ``scores``,
    ``gradients`` (the names of :data:`ACCESS_LEVELS` it offers, in that order)."""
    caps = target_capabilities(target)
    return tuple(c.value for c in ACCESS_LEVELS if c in caps)


def as_scores(target: object) -> ScoreTarget:
    """``target`` as a :class:`ScoreTarget` (CheckError when it returns no scores)."""
    if not isinstance(target, ScoreTarget):
        raise CheckError(Capability.SCORES.missing)
    return target


def as_differentiable(target: object) -> DifferentiableTarget:
    """``target`` as a :class:`DifferentiableTarget` (CheckError when it has no gradients)."""
    if not isinstance(target, DifferentiableTarget):
        raise CheckError(Capability.GRADIENTS.missing)
    return target
