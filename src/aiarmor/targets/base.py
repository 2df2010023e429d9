"""The model under test, seen through capabilities.

Every target answers label queries and counts them (black-box access, as a remote endpoint
gives). Richer access is a further protocol a target may also satisfy:

* :class:`ScoreTarget` - returns class probabilities (score-based black-box attacks, calibration);
* :class:`DifferentiableTarget` - a PyTorch module whose logits can be differentiated with
  respect to the input (white-box attacks).

Checks ask for a capability with ``isinstance(target, ScoreTarget)`` and skip, with a reason,
when the target lacks it.

Inputs at this boundary are NumPy arrays in the data's natural range, one sample per row of
the first axis; adapters cast numeric input to the model's dtype and otherwise pass it through
unvalidated, so checks can observe how the model itself handles malformed input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch


@runtime_checkable
class Target(Protocol):
    """Label-only, query-counted access to a classifier."""

    name: str
    """A human name for the model (shown in reports)."""
    n_classes: int
    """Number of classes it predicts."""
    bounds: tuple[float, float] | None
    """The valid input domain (``--bounds``), or None when unknown."""
    queries: int
    """Samples sent to the model so far (each row of a batch counts once)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels, shape ``(n,)``, dtype int64."""
        ...


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


def capabilities(target: object) -> tuple[str, ...]:
    """The capability names a target has: ``labels``, ``scores``, ``gradients``."""
    caps = []
    if isinstance(target, Target):
        caps.append("labels")
    if isinstance(target, ScoreTarget):
        caps.append("scores")
    if isinstance(target, DifferentiableTarget):
        caps.append("gradients")
    return tuple(caps)
