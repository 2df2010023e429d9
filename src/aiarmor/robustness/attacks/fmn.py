"""Fast Minimum-Norm (FMN) attack: each sample's smallest successful perturbation.

FMN (Pintor et al., NeurIPS 2021) keeps a per-sample radius ``eps_k`` and takes normalized
gradient steps on the logit margin inside the ``eps_k``-ball. Before the first adversarial
point is found the radius follows a linear estimate of the distance to the boundary
(``||delta|| + |margin| / ||grad||_dual``, overshot by ``1 + gamma`` so that the steps cross
the boundary instead of approaching it asymptotically, which plain FMN can do under Linf);
afterwards it shrinks by ``(1 - gamma)`` while the
point is adversarial (never above the best norm found) and grows by ``(1 + gamma)`` when it is
not. The step size ``alpha`` and ``gamma`` follow cosine annealing. Every step is one forward
and one input-only backward; the success test uses that step's logits.

Unlike the bounded attacks, FMN cannot drop a sample once it is fooled (it then starts
shrinking the perturbation), so it costs ``steps`` passes over the whole batch. Run it under
:func:`widest_threat` (every point of the input domain is inside the ball) to get unbounded
minimal norms, or under a bounded threat model to stop the radius at that epsilon.

References:
    M. Pintor, F. Roli, W. Brendel, B. Biggio, "Fast Minimum-norm Adversarial Attacks through
    Adaptive Norm Constraints", NeurIPS 2021 (Algorithm 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from aiarmor.core.capability import Capability
from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks.base import Attack, AttackResult, run_attack
from aiarmor.robustness.attacks.eot import loss_and_grad, margin
from aiarmor.robustness.attacks.pgd import per_sample
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets.base import DifferentiableTarget


@dataclass(frozen=True, kw_only=True, repr=False)
class FMN(Attack[DifferentiableTarget]):
    """Fast Minimum-Norm attack (Linf or L2), untargeted.

    Hyperparameters (keyword-only):
        steps: optimization steps.
        alpha_init: initial step size, in units of the input range's width (L2 size of the
            normalized-gradient step).
        alpha_final: final step size after cosine annealing (default ``alpha_init / 100``).
        gamma_init: initial factor by which the radius shrinks or grows.
        gamma_final: final radius factor after cosine annealing.
        eot_samples: gradient averaged over this many draws (randomized models).
    """

    steps: int = 100
    alpha_init: float = 1.0
    alpha_final: float | None = None
    gamma_init: float = 0.05
    gamma_final: float = 0.001
    eot_samples: int = 1
    needs: ClassVar[Capability] = Capability.GRADIENTS

    def __post_init__(self) -> None:
        if self.steps < 1 or self.eot_samples < 1:
            raise ConfigError("steps and eot_samples must be >= 1")
        if not (self.alpha_init > 0 and 0 < self.gamma_final <= self.gamma_init < 1):
            raise ConfigError("need alpha_init > 0 and 0 < gamma_final <= gamma_init < 1")

    def perturb(
        self,
        target: DifferentiableTarget,
        x: torch.Tensor,
        y: torch.Tensor,
        threat: ThreatModel,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """The smallest adversarial point found per sample (the clean input where none)."""
        if len(x) == 0:
            return x.clone()
        lo, hi = threat.bounds
        width = hi - lo
        a_init = self.alpha_init * width
        a_final = a_init / 100 if self.alpha_final is None else self.alpha_final * width
        cap = torch.minimum(
            threat.norms(torch.maximum(x - lo, hi - x)), torch.tensor(threat.epsilon)
        )
        delta = torch.zeros_like(x)
        radius = torch.full((len(x),), math.inf)
        best_norm = torch.full((len(x),), math.inf)
        best = x.clone()
        found = torch.zeros(len(x), dtype=torch.bool)
        dual = 1.0 if threat.norm is Norm.LINF else 2.0
        for i in range(self.steps):
            cosine = 0.5 * (1 + math.cos(math.pi * i / self.steps))
            alpha = a_final + (a_init - a_final) * cosine
            gamma = self.gamma_final + (self.gamma_init - self.gamma_final) * cosine
            adv = x + delta
            logits, loss, grad = loss_and_grad(target, adv, y, margin, samples=self.eot_samples)
            grad = _feasible(grad, adv, lo, hi)
            size = threat.norms(delta)
            is_adv = logits.argmax(dim=1) != y
            smaller = is_adv & (size < best_norm)
            best_norm = torch.where(smaller, size, best_norm)
            best = torch.where(per_sample(smaller, x), adv, best)
            found |= is_adv
            to_boundary = loss.abs() / _dual_norm(grad, dual).clamp_min(1e-12)
            radius = torch.where(
                is_adv,
                torch.minimum(radius * (1 - gamma), best_norm),
                torch.where(found, radius * (1 + gamma), (size + to_boundary) * (1 + gamma)),
            )
            radius = torch.minimum(radius, cap)
            step = grad / per_sample(_dual_norm(grad, 2.0).clamp_min(1e-12), grad)
            delta = _into_ball(delta + alpha * step, radius, threat.norm)
            delta = (x + delta).clamp(lo, hi) - x
        return best


def _feasible(grad: torch.Tensor, adv: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``grad`` without the components that push a coordinate already at a bound out of it.

    The clip to the bounds would undo them after the step; left in, they shrink the useful
    part of the normalized step and inflate the estimated distance to the boundary.
    """
    blocked = ((adv <= lo) & (grad < 0)) | ((adv >= hi) & (grad > 0))
    return grad.masked_fill(blocked, 0.0)


def _dual_norm(grad: torch.Tensor, p: float) -> torch.Tensor:
    norms: torch.Tensor = torch.linalg.vector_norm(grad.flatten(1), ord=p, dim=1)
    return norms


def _into_ball(delta: torch.Tensor, radius: torch.Tensor, norm: Norm) -> torch.Tensor:
    """``delta`` projected onto the per-sample ball of ``radius``."""
    if norm is Norm.LINF:
        r = per_sample(radius, delta)
        return torch.maximum(torch.minimum(delta, r), -r)
    size = torch.linalg.vector_norm(delta.flatten(1), dim=1).clamp_min(1e-12)
    return delta * per_sample((radius / size).clamp(max=1.0), delta)


def widest_threat(
    norm: Norm | str, bounds: tuple[float, float], sample_shape: tuple[int, ...]
) -> ThreatModel:
    """A threat model whose ball holds the whole input domain (for minimum-norm attacks)."""
    width = bounds[1] - bounds[0]
    d = int(np.prod(sample_shape)) if sample_shape else 1
    norm = Norm(norm)
    return ThreatModel(norm, width if norm is Norm.LINF else width * math.sqrt(d), bounds)


def minimal_perturbations(
    target: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: Norm | str,
    bounds: tuple[float, float],
    attack: Attack[Any] | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, AttackResult]:
    """Each sample's smallest adversarial perturbation norm found, and the judged result.

    ``attack`` is a minimum-norm attack run with the widest threat model (default: ``FMN()``).

    The norms are 0 for samples misclassified to begin with and ``inf`` where no adversarial
    point was found; every finite one belongs to an adversarial input the framework
    re-verified.
    """
    threat = widest_threat(norm, bounds, tuple(x.shape[1:]))
    result = run_attack(attack or FMN(), target, x, y, threat, seed=seed)
    return smallest_norms(result), result


def smallest_norms(result: AttackResult) -> torch.Tensor:
    """Per-sample norms of a minimum-norm attack's result: 0 if misclassified, inf if unfooled."""
    inf = torch.full_like(result.norms, math.inf)
    return torch.where(result.success, result.norms, torch.where(result.clean_correct, inf, 0.0))
