"""Threat models: which perturbations an attacker may make."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import torch

from aiarmor.core.errors import ConfigError


class Norm(enum.StrEnum):
    """The norm that bounds a perturbation."""

    LINF = "linf"
    L2 = "l2"


@dataclass(frozen=True, slots=True)
class ThreatModel:
    """Perturbations of at most ``epsilon`` in ``norm``, inside the input ``bounds``."""

    norm: Norm
    """Linf or L2."""
    epsilon: float
    """Radius of the ball around each clean input (0 allowed: clean accuracy)."""
    bounds: tuple[float, float] = (0.0, 1.0)
    """The valid input domain; adversarial inputs are clipped into it."""

    def __post_init__(self) -> None:
        if not isinstance(self.norm, Norm):
            object.__setattr__(self, "norm", _norm(self.norm))
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ConfigError(f"epsilon must be a finite number >= 0, got {self.epsilon}")
        lo, hi = self.bounds
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"bounds must be finite with lo < hi, got {self.bounds}")

    def norms(self, delta: torch.Tensor) -> torch.Tensor:
        """Per-sample size of ``delta`` in this threat model's norm, shape ``(n,)``."""
        flat = delta.flatten(1)
        if self.norm is Norm.LINF:
            return flat.abs().amax(dim=1) if flat.shape[1] else flat.new_zeros(len(flat))
        norms: torch.Tensor = torch.linalg.vector_norm(flat, ord=2, dim=1)
        return norms

    def project(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        """``x_adv`` moved into the epsilon-ball around ``x`` and then into the bounds.

        Idempotent in floating point: a point already inside the ball and the bounds is
        returned unchanged (not recomputed as ``x + (x_adv - x)``, which can move it by an
        ulp and flip a decision for a candidate on the decision boundary).
        """
        if self.norm is Norm.LINF:
            eps = self.epsilon
            out = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)
        else:
            delta = x_adv - x
            size = self.norms(delta)
            factor = (self.epsilon / size.clamp_min(1e-12)).clamp(max=1.0)
            shape = (-1, *([1] * (delta.dim() - 1)))
            inside = (size <= self.epsilon).view(shape)
            out = torch.where(inside, x_adv, x + delta * factor.view(shape))
        return out.clamp(*self.bounds)

    def contains(self, x: torch.Tensor, x_adv: torch.Tensor, *, tol: float = 1e-5) -> torch.Tensor:
        """Per-sample mask: ``x_adv`` is inside the ball (with ``tol``) and the bounds."""
        inside = self.norms(x_adv - x) <= self.epsilon * (1 + tol) + tol
        lo, hi = self.bounds
        flat = x_adv.flatten(1)
        in_bounds = (flat >= lo - tol).all(dim=1) & (flat <= hi + tol).all(dim=1)
        return inside & in_bounds


def _norm(value: object) -> Norm:
    try:
        return Norm(str(value).lower())
    except ValueError:
        raise ConfigError(f"unknown norm {value!r} (expected linf or l2)") from None
