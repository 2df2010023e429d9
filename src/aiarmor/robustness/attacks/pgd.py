"""Projected gradient descent (Madry et al., ICLR 2018); FGSM is its one-step configuration.

Torch end to end: gradients only with respect to the input, samples dropped from the working
batch as soon as the logits of the current step show them fooled (no extra forward pass),
random start inside the ball, restarts only for the samples still robust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from aiarmor.robustness.attacks.base import Attack
from aiarmor.robustness.threat import Norm, ThreatModel


@dataclass(frozen=True, kw_only=True, repr=False)
class PGD(Attack):
    """Untargeted PGD on the cross-entropy loss, Linf (sign steps) or L2 (normalized steps).

    ``rel_stepsize`` is the step as a fraction of epsilon; ``random_start`` draws the start
    uniformly in the Linf ball (or on a random direction inside the L2 ball).
    """

    steps: int = 40
    rel_stepsize: float = 0.1
    random_start: bool = True
    restarts: int = 1
    needs: ClassVar[str] = "gradients"

    def perturb(
        self,
        target: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        threat: ThreatModel,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Adversarial candidates; samples keep their first successful perturbation."""
        best = x.clone()
        alive = torch.arange(len(x))
        for _ in range(max(1, self.restarts)):
            if len(alive) == 0:
                break
            adv, fooled = self._run(target, x[alive], y[alive], threat, generator)
            best[alive] = adv
            alive = alive[~fooled]
        return best

    def _run(
        self,
        target: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        threat: ThreatModel,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        step = self.rel_stepsize * threat.epsilon
        adv = _start(x, threat, generator) if self.random_start else x.clone()
        out = adv.clone()
        fooled = torch.zeros(len(x), dtype=torch.bool)
        work = torch.arange(len(x))
        for _ in range(self.steps):
            xa = adv[work].requires_grad_(True)
            logits = target.logits(xa)
            done = logits.argmax(dim=1) != y[work]
            out[work[done]] = xa.detach()[done]
            fooled[work[done]] = True
            keep = ~done
            if not bool(keep.any()):
                work = work[keep]
                break
            loss = torch.nn.functional.cross_entropy(logits, y[work], reduction="sum")
            (grad,) = torch.autograd.grad(loss, xa)
            moved = xa.detach()[keep] + step * _direction(grad[keep], threat.norm)
            work = work[keep]
            adv[work] = threat.project(x[work], moved)
        if len(work):
            out[work] = adv[work]
        return out, fooled


def fgsm(**kwargs: Any) -> PGD:
    """FGSM (Goodfellow et al., ICLR 2015): one full-epsilon step from the clean input."""
    return PGD(steps=1, rel_stepsize=1.0, random_start=False, restarts=1, **kwargs)


def _direction(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    if norm is Norm.LINF:
        return grad.sign()
    size = torch.linalg.vector_norm(grad.flatten(1), dim=1).clamp_min(1e-12)
    unit: torch.Tensor = grad / size.view(-1, *([1] * (grad.dim() - 1)))
    return unit


def _start(x: torch.Tensor, threat: ThreatModel, generator: torch.Generator) -> torch.Tensor:
    eps = threat.epsilon
    if threat.norm is Norm.LINF:
        noise = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator)
        direction = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(
            -1, *([1] * (x.dim() - 1))
        )
        d = x[0].numel()
        radius = eps * torch.rand(len(x), generator=generator) ** (1.0 / max(d, 1))
        noise = direction * radius.view(-1, *([1] * (x.dim() - 1)))
    return threat.project(x, x + noise)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))
