"""Auto-PGD (APGD) with the cross-entropy or DLR loss, untargeted or targeted.

APGD (Croce and Hein, ICML 2020) is PGD without a step size to tune. It starts with a step of
2 epsilon, moves with momentum 0.75 (``x' = P(x + a (z - x) + (1 - a)(x - x_prev))`` where
``z = P(x + eta * step_direction)``, ``a = 1`` at the first step), and at checkpoints
``w_j = ceil(p_j N)`` with ``p_0 = 0``, ``p_1 = 0.22``,
``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`` halves a sample's step size and restarts
it from its best point when either

1. the loss increased in at most ``rho = 0.75`` of the steps since the last checkpoint, or
2. its step size was not reduced at the last checkpoint and its best loss has not improved
   since then.

The targeted version climbs the targeted DLR loss towards each of the ``n_targets`` most
likely wrong classes of the clean input in turn (APGD-T in AutoAttack).

Unlike the reference implementation, a sample leaves the working batch as soon as the logits
of a step show it fooled (no extra forward pass), and each restart or target class runs only
on the samples still robust, so the cost follows the number of robust points.

References:
    F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks", ICML 2020 (Algorithm 1, Section 3; the DLR loss,
    Section 4).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from aiarmor.core.capability import Capability
from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks.base import Attack
from aiarmor.robustness.attacks.eot import get_loss, logits_only, loss_and_grad
from aiarmor.robustness.attacks.pgd import per_sample, unit_direction
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets.base import DifferentiableTarget


@dataclass(frozen=True, kw_only=True, repr=False)
class APGD(Attack[DifferentiableTarget]):
    """Auto-PGD (Linf or L2) on the ``"ce"`` or ``"dlr"`` loss, untargeted or targeted.

    Hyperparameters (keyword-only):
        steps: iterations per run (the checkpoints scale with it).
        loss: ``"ce"``, ``"dlr"`` or ``"margin"``.
        targeted: climb the targeted loss towards each of the ``n_targets`` most likely wrong
            classes in turn (APGD-T); success is still any misclassification.
        n_targets: target classes tried (capped at the number of classes minus one).
        restarts: random restarts (per target class when targeted), on the robust samples.
        rho: the fraction of loss increases below which a checkpoint halves the step.
        momentum: the weight ``a`` of the new step against the previous one.
        eot_samples: gradient averaged over this many draws (randomized models).
    """

    steps: int = 100
    loss: str = "ce"
    targeted: bool = False
    n_targets: int = 9
    restarts: int = 1
    rho: float = 0.75
    momentum: float = 0.75
    eot_samples: int = 1
    needs: ClassVar[Capability] = Capability.GRADIENTS

    def __post_init__(self) -> None:
        if min(self.steps, self.restarts, self.n_targets, self.eot_samples) < 1:
            raise ConfigError("steps, restarts, n_targets and eot_samples must be >= 1")
        if not (0 < self.rho <= 1 and 0 < self.momentum <= 1):
            raise ConfigError("rho and momentum must be in (0, 1]")
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
        if len(x) == 0:
            return out
        ranked = self._ranked_classes(target, x) if self.targeted else None
        runs = [(rank, r) for rank in self._ranks(target) for r in range(self.restarts)]
        alive = torch.arange(len(x))
        for j, (rank, _) in enumerate(runs):
            if len(alive) == 0:
                break
            t = None if ranked is None else ranked[alive, rank]
            check = j < len(runs) - 1
            adv, fooled = self._run(target, x[alive], y[alive], t, threat, generator, check)
            out[alive] = adv
            alive = alive[~fooled]
        return out

    def _ranks(self, target: Any) -> range:
        """Ranks of the target classes among the clean logits (1 = runner-up), or ``[0]``."""
        if not self.targeted:
            return range(1)
        return range(1, 1 + min(self.n_targets, int(target.n_classes) - 1))

    def _ranked_classes(self, target: Any, x: torch.Tensor) -> torch.Tensor:
        """Classes by decreasing clean logit, one row per sample."""
        return logits_only(target, x, samples=self.eot_samples).argsort(dim=1, descending=True)

    def _run(
        self,
        target: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor | None,
        threat: ThreatModel,
        generator: torch.Generator,
        check: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One APGD run (Algorithm 1); ``fooled`` covers the last iterate only when ``check``."""
        loss_fn = get_loss(self.loss)
        n, eps, norm = len(x), threat.epsilon, threat.norm
        adv = threat.project(x, x + eps * boundary_noise(x, norm, generator))
        logits, loss, grad = loss_and_grad(target, adv, y, loss_fn, t=t, samples=self.eot_samples)
        out, fooled = adv.clone(), torch.zeros(n, dtype=torch.bool)
        s = _State.start(torch.arange(n), x, y, t, adv, loss, grad, 2 * eps)
        s = s.drop(_fooled(logits, y), out, fooled)
        checkpoints = apgd_checkpoints(self.steps)
        for i in range(self.steps):
            if s.empty:
                return out, fooled
            a = 1.0 if i == 0 else self.momentum
            step = per_sample(s.step, s.adv) * unit_direction(s.grad, norm)
            z = threat.project(s.x, s.adv + step)
            moved = threat.project(s.x, s.adv + a * (z - s.adv) + (1 - a) * (s.adv - s.prev))
            s.prev = s.adv
            s.adv = moved
            logits, loss, s.grad = loss_and_grad(
                target, moved, s.y, loss_fn, t=s.t, samples=self.eot_samples
            )
            s.record(loss)
            s = s.drop(_fooled(logits, s.y), out, fooled)
            if i + 1 in checkpoints:
                s.checkpoint(self.rho * checkpoints[i + 1])
        if not s.empty:
            out[s.idx] = s.adv
            if check:
                done = logits_only(target, s.adv, samples=self.eot_samples).argmax(dim=1) != s.y
                fooled[s.idx[done]] = True
        return out, fooled


@dataclass(slots=True)
class _State:
    """Per-sample APGD state of the working batch (rows of the samples still robust)."""

    idx: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor | None
    adv: torch.Tensor
    prev: torch.Tensor
    grad: torch.Tensor
    step: torch.Tensor
    last_loss: torch.Tensor
    best_loss: torch.Tensor
    best: torch.Tensor
    best_grad: torch.Tensor
    increases: torch.Tensor
    best_at_check: torch.Tensor
    reduced_at_check: torch.Tensor

    @classmethod
    def start(cls, idx: torch.Tensor, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
              adv: torch.Tensor, loss: torch.Tensor, grad: torch.Tensor,
              step: float) -> _State:  # fmt: skip
        """The state at the random start ``adv`` (its loss and gradient already computed)."""
        n = len(idx)
        return cls(idx, x, y, t, adv, adv, grad, torch.full((n,), step, dtype=x.dtype),
                   loss, loss.clone(), adv, grad, torch.zeros(n), loss.clone(),
                   torch.ones(n, dtype=torch.bool))  # fmt: skip

    @property
    def empty(self) -> bool:
        """No sample left to attack."""
        return len(self.idx) == 0

    def record(self, loss: torch.Tensor) -> None:
        """Count an increase of the loss and keep the best point and its gradient."""
        self.increases += (loss > self.last_loss).float()
        self.last_loss = loss
        better = loss > self.best_loss
        self.best_loss = torch.where(better, loss, self.best_loss)
        mask = per_sample(better, self.adv)
        self.best = torch.where(mask, self.adv, self.best)
        self.best_grad = torch.where(mask, self.grad, self.best_grad)

    def checkpoint(self, threshold: float) -> None:
        """Halve the step and restart from the best point where condition 1 or 2 holds."""
        oscillating = self.increases <= threshold
        stalled = ~self.reduced_at_check & (self.best_at_check >= self.best_loss)
        reduce = oscillating | stalled
        self.reduced_at_check = reduce
        self.best_at_check = self.best_loss.clone()
        self.increases.zero_()
        if bool(reduce.any()):
            self.step = torch.where(reduce, self.step / 2, self.step)
            mask = per_sample(reduce, self.adv)
            self.adv = torch.where(mask, self.best, self.adv)
            self.grad = torch.where(mask, self.best_grad, self.grad)

    def drop(self, done: torch.Tensor, out: torch.Tensor, fooled: torch.Tensor) -> _State:
        """Record the fooled rows in ``out``/``fooled`` and keep only the others."""
        if not bool(done.any()):
            return self
        out[self.idx[done]] = self.adv[done]
        fooled[self.idx[done]] = True
        keep = ~done
        kept: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kept[f.name] = None if value is None else value[keep]
        return _State(**kept)


def _fooled(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=1) != y


def apgd_checkpoints(steps: int) -> dict[int, int]:
    """Checkpoint iteration (1-based count of steps) -> length of the interval before it.

    The intervals of the reference implementation: ``max(floor(0.22 N), 1)`` first, then
    shrinking by ``max(floor(0.03 N), 1)`` per checkpoint down to ``max(floor(0.06 N), 1)``.
    """
    first = max(int(0.22 * steps), 1)
    shrink, floor_ = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    out, at, k = {}, 0, first
    while at + k <= steps:
        at += k
        out[at] = k
        k = max(k - shrink, floor_)
    return out


def boundary_noise(x: torch.Tensor, norm: Norm, generator: torch.Generator) -> torch.Tensor:
    """APGD's random start direction: unit Linf (scaled uniform) or unit L2 (Gaussian) noise."""
    if norm is Norm.LINF:
        noise = torch.rand(x.shape, generator=generator) * 2 - 1
        size = noise.flatten(1).abs().amax(dim=1)
    else:
        noise = torch.randn(x.shape, generator=generator)
        size = torch.linalg.vector_norm(noise.flatten(1), dim=1)
    return (noise / per_sample(size.clamp_min(1e-12), noise)).to(x.dtype)


def apgd_ce(**kwargs: Any) -> APGD:
    """APGD-CE: untargeted, cross-entropy loss (the first attack of AutoAttack)."""
    return APGD(loss="ce", **kwargs)


def apgd_dlr(**kwargs: Any) -> APGD:
    """APGD-DLR: untargeted, difference-of-logits-ratio loss."""
    return APGD(loss="dlr", **kwargs)


def apgd_t(**kwargs: Any) -> APGD:
    """APGD-T: targeted DLR loss towards the most likely wrong classes in turn."""
    return APGD(loss="dlr", targeted=True, **kwargs)
