"""Projected gradient descent (Madry et al., ICLR 2018); FGSM is its one-step configuration.

Torch end to end: one forward and one input-only backward per step (:mod:`.eot`), the success
test read off the logits of that same step, and a sample dropped from the working batch the
moment it is fooled, so a batch of easy points costs a fraction of ``steps`` passes. Restarts
run only on the samples still robust.

References:
    I. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing Adversarial Examples",
    ICLR 2015 (FGSM).
    A. Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
    ICLR 2018 (PGD with random start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from aiarmor.core.capability import Capability
from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks.base import Attack
from aiarmor.robustness.attacks.eot import get_loss, logits_only, loss_and_grad
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets.base import DifferentiableTarget

_SCHEDULES = ("constant", "cosine", "linear")


@dataclass(frozen=True, kw_only=True, repr=False)
class PGD(Attack[DifferentiableTarget]):
    """Untargeted PGD: Linf steps along the gradient's sign, L2 steps along its direction.

    Hyperparameters (keyword-only):
        steps: gradient steps per restart.
        rel_stepsize: step size as a fraction of epsilon (at the start of the schedule).
        schedule: ``"constant"``, ``"cosine"`` (annealed to 0) or ``"linear"`` (decayed to 0).
        random_start: start uniformly inside the ball instead of at the clean input.
        restarts: runs from fresh random starts, each on the samples still robust.
        loss: ``"ce"`` (cross-entropy), ``"dlr"`` or ``"margin"``.
        eot_samples: gradient averaged over this many draws (randomized models, see EOT).
    """

    steps: int = 40
    rel_stepsize: float = 0.1
    schedule: str = "constant"
    random_start: bool = True
    restarts: int = 1
    loss: str = "ce"
    eot_samples: int = 1
    needs: ClassVar[Capability] = Capability.GRADIENTS

    def __post_init__(self) -> None:
        if self.steps < 1 or self.restarts < 1 or self.eot_samples < 1:
            raise ConfigError("steps, restarts and eot_samples must be >= 1")
        if self.schedule not in _SCHEDULES:
            raise ConfigError(f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}")
        get_loss(self.loss)

    def perturb(
        self,
        target: DifferentiableTarget,
        x: torch.Tensor,
        y: torch.Tensor,
        threat: ThreatModel,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Adversarial candidates; a sample keeps the first perturbation that fooled it."""
        out = x.clone()
        alive = torch.arange(len(x))
        for restart in range(self.restarts):
            if len(alive) == 0:
                break
            last = restart == self.restarts - 1
            adv, fooled = self._run(target, x[alive], y[alive], threat, generator, check=not last)
            out[alive] = adv
            alive = alive[~fooled]
        return out

    def _run(
        self,
        target: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        threat: ThreatModel,
        generator: torch.Generator,
        *,
        check: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One run; ``fooled`` covers the last iterate only when ``check`` (a forward pass)."""
        loss = get_loss(self.loss)
        adv = random_start(x, threat, generator) if self.random_start else x.clone()
        out = adv.clone()
        fooled = torch.zeros(len(x), dtype=torch.bool)
        idx = torch.arange(len(x))
        xw, yw = x, y
        for i in range(self.steps):
            logits, _, grad = loss_and_grad(target, adv, yw, loss, samples=self.eot_samples)
            done = logits.argmax(dim=1) != yw
            if bool(done.any()):
                out[idx[done]] = adv[done]
                fooled[idx[done]] = True
                keep = ~done
                idx, xw, yw, adv, grad = idx[keep], xw[keep], yw[keep], adv[keep], grad[keep]
                if len(idx) == 0:
                    return out, fooled
            size = self.rel_stepsize * threat.epsilon * self._decay(i)
            adv = threat.project(xw, adv + size * unit_direction(grad, threat.norm))
        out[idx] = adv
        if check:
            done = logits_only(target, adv, samples=self.eot_samples).argmax(dim=1) != yw
            fooled[idx[done]] = True
        return out, fooled

    def _decay(self, i: int) -> float:
        """The step-size factor at step ``i`` of the schedule."""
        if self.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * i / self.steps))
        if self.schedule == "linear":
            return 1 - i / self.steps
        return 1.0


def fgsm(**kwargs: Any) -> PGD:
    """FGSM (Goodfellow et al., ICLR 2015): one full-epsilon step from the clean input."""
    return PGD(steps=1, rel_stepsize=1.0, random_start=False, restarts=1, **kwargs)


def per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A ``(n,)`` tensor viewed to broadcast against ``like`` (``(n, ...)``)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def unit_direction(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The steepest-ascent step of unit size: the sign (Linf) or the L2-normalized gradient."""
    if norm is Norm.LINF:
        return grad.sign()
    size = torch.linalg.vector_norm(grad.flatten(1), dim=1).clamp_min(1e-12)
    return grad / per_sample(size, grad)


def random_start(x: torch.Tensor, threat: ThreatModel, generator: torch.Generator) -> torch.Tensor:
    """A point drawn uniformly from the ball around each ``x`` (then clipped to the bounds)."""
    eps = threat.epsilon
    if threat.norm is Norm.LINF:
        noise = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator)
        size = torch.linalg.vector_norm(direction.flatten(1), dim=1).clamp_min(1e-12)
        d = max(x[0].numel(), 1) if len(x) else 1
        radius = eps * torch.rand(len(x), generator=generator) ** (1.0 / d)
        noise = direction * per_sample(radius / size, x)
    return threat.project(x, x + noise.to(x.dtype))
