"""HopSkipJump (Chen, Jordan and Wainwright, S&P 2020): decision-based, labels only, Linf and L2.

HopSkipJump needs nothing but the model's predicted label, so it attacks any target, including
a label-only scikit-learn estimator, a callable returning labels or a remote endpoint. It is a
minimum-norm attack that walks along the decision boundary towards the clean input:

1. Start from uniform noise in the bounds that the model already misclassifies (falling back
   to the nearest sample of the batch with another label), then a blended binary search
   towards the clean input.
2. Binary search along the line to the clean input (L2) or over the radius of the Linf box
   around it (Linf) to a point just on the adversarial side of the boundary.
3. Estimate the boundary's normal there by Monte-Carlo: ``init_evals * sqrt(t)`` random
   directions (Gaussian for L2, uniform for Linf), each labelled adversarial or not by one
   query, averaged with a baseline.
4. Step along the estimate (its sign for Linf) by a geometric search: start at
   ``distance / sqrt(t)`` and halve until the point is adversarial; then back to 2.

Every sample has its own query budget (``max_queries``, strictly respected) and leaves the
working batch when the budget is spent, or as soon as its adversarial point lies inside the
threat model's ball (then the attack has succeeded for that epsilon). Steps run batched over
the samples; the gradient estimates of a step go to the model in a few large batches.

Reference:
    J. Chen, M. I. Jordan, M. J. Wainwright, "HopSkipJumpAttack: A Query-Efficient
    Decision-Based Attack", IEEE S&P 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from aiarmor.core.capability import Capability
from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks._queries import query_labels
from aiarmor.robustness.attacks.base import Attack
from aiarmor.robustness.attacks.pgd import per_sample
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets.base import Target

_BLEND_TOL = 1e-3
"""Resolution of the blended binary search of the initialisation."""
_HALVINGS = 25
"""Most halvings of the geometric step search."""
_ESTIMATE_ELEMENTS = 1 << 23
"""Most input values the random directions of one gradient-estimate chunk may hold."""


@dataclass(frozen=True, kw_only=True, repr=False)
class HopSkipJump(Attack[Target]):
    """Untargeted HopSkipJump, Linf or L2 (from the threat model).

    Hyperparameters (keyword-only):
        max_queries: query budget per sample (initialisation and searches included).
        max_iter: most boundary steps per sample.
        init_evals: random directions of the first gradient estimate (``init_evals * sqrt(t)``
            at step t).
        max_evals: most random directions of one gradient estimate.
        gamma: binary-search precision; the stopping threshold is gamma / d^(3/2) (L2) or
            gamma / d^2 (Linf) for d input values.
        init_trials: uniform-noise draws tried for the starting point.
    """

    max_queries: int = 1000
    max_iter: int = 64
    init_evals: int = 100
    max_evals: int = 10000
    gamma: float = 1.0
    init_trials: int = 100
    needs = Capability.LABELS

    def __post_init__(self) -> None:
        counts = (self.max_queries, self.max_iter, self.init_evals, self.max_evals)
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in counts):
            raise ConfigError("max_queries, max_iter, init_evals and max_evals must be ints >= 1")
        if self.init_trials < 0 or not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ConfigError("init_trials must be >= 0 and gamma a positive number")

    def perturb(
        self,
        target: Target,
        x: torch.Tensor,
        y: torch.Tensor,
        threat: ThreatModel,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """The adversarial point closest to each ``x`` found within the budget (or ``x``)."""
        if len(x) == 0:
            return x.clone()
        with torch.inference_mode():
            out = _Search(self, target, x.detach().float(), y, threat, generator).run()
        return out.to(x.dtype).clone()  # a normal tensor again, usable outside inference mode


class _Search:
    """The state of one HopSkipJump run over a batch; rows index the batch."""

    def __init__(self, cfg: HopSkipJump, target: Any, x: torch.Tensor, y: torch.Tensor,
                 threat: ThreatModel, gen: torch.Generator) -> None:  # fmt: skip
        self.cfg, self.target, self.x, self.y, self.gen = cfg, target, x, y, gen
        self.lo, self.hi = threat.bounds
        self.eps, self.linf = threat.epsilon, threat.norm is Norm.LINF
        self.d = max(x[0].numel(), 1)
        self.theta = cfg.gamma / (self.d**2 if self.linf else self.d**1.5)
        self.used = torch.zeros(len(x), dtype=torch.long)
        self.adv = x.clone()
        self.found = torch.zeros(len(x), dtype=torch.bool)

    def run(self) -> torch.Tensor:
        """Initialise, then alternate boundary search, gradient estimate and step."""
        self._initialise()
        rows = self.found.nonzero().flatten()
        self._blend(rows)
        self._boundary(rows)
        dist = self._dist(torch.arange(len(self.x)))
        for t in range(1, self.cfg.max_iter + 1):
            rows = (self.found & (dist > self.eps) & (self.used < self.cfg.max_queries)).nonzero()
            rows = rows.flatten()
            if len(rows) == 0:
                break
            scale = self.d * self.theta if self.linf else math.sqrt(self.d) * self.theta
            delta = torch.full((len(rows),), 0.1 * (self.hi - self.lo)) if t == 1 else (
                scale * dist[rows])  # fmt: skip
            num = min(int(self.cfg.init_evals * math.sqrt(t)), self.cfg.max_evals)
            rows, update = self._direction(rows, delta, num)
            self._step(rows, update, dist[rows] / math.sqrt(t))
            self._boundary(rows)
            dist[rows] = self._dist(rows)
        return self.adv

    def _left(self, rows: torch.Tensor) -> torch.Tensor:
        return self.cfg.max_queries - self.used[rows]

    def _ask(self, rows: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Whether each point is adversarial for its sample ``rows[k]``; one query each."""
        labels = query_labels(self.target, points)
        self.used.index_add_(0, rows, torch.ones_like(rows))
        return labels != self.y[rows]

    def _dist(self, rows: torch.Tensor) -> torch.Tensor:
        flat = (self.adv[rows] - self.x[rows]).flatten(1)
        if self.linf:
            return flat.abs().amax(dim=1) if flat.shape[1] else flat.new_zeros(len(flat))
        norms: torch.Tensor = torch.linalg.vector_norm(flat, dim=1)
        return norms

    def _initialise(self) -> None:
        """Uniform noise until misclassified; else the nearest sample with another label."""
        shape = self.x.shape[1:]
        for _ in range(self.cfg.init_trials):
            rows = (~self.found & (self.used < self.cfg.max_queries)).nonzero().flatten()
            if len(rows) == 0:
                return
            noise = torch.rand((len(rows), *shape), generator=self.gen)
            noise = noise * (self.hi - self.lo) + self.lo
            ok = self._ask(rows, noise)
            self.adv[rows[ok]], self.found[rows[ok]] = noise[ok], True
        self._from_batch()

    def _from_batch(self) -> None:
        """Start the samples noise did not fool from the nearest one with another label."""
        rows = (~self.found & (self.used < self.cfg.max_queries)).nonzero().flatten()
        if len(rows) == 0:
            return
        flat = self.x.flatten(1)
        dist = torch.cdist(flat[rows], flat)
        dist[self.y[rows][:, None] == self.y[None, :]] = math.inf
        nearest = dist.argmin(dim=1)
        usable = torch.isfinite(dist.min(dim=1).values)
        rows, nearest = rows[usable], nearest[usable]
        if len(rows):
            ok = self._ask(rows, self.x[nearest])
            self.adv[rows[ok]], self.found[rows[ok]] = self.x[nearest[ok]], True

    def _blend(self, rows: torch.Tensor) -> None:
        """Binary search on the blend ``(1 - a) x + a adv`` for the smallest adversarial ``a``."""
        x, start = self.x[rows], self.adv[rows]
        low, high = torch.zeros(len(rows)), torch.ones(len(rows))
        while True:
            act = ((high - low) > _BLEND_TOL) & (self._left(rows) > 0)
            if not bool(act.any()):
                break
            mid = (low[act] + high[act]) / 2
            ok = self._ask(rows[act], _mix(x[act], start[act], mid))
            high[act] = torch.where(ok, mid, high[act])
            low[act] = torch.where(ok, low[act], mid)
        self.adv[rows] = _mix(x, start, high)

    def _boundary(self, rows: torch.Tensor) -> None:
        """Chen et al.'s binary search: to within ``theta`` of the boundary, staying adversarial."""
        if len(rows) == 0:
            return
        x, start = self.x[rows], self.adv[rows]
        if self.linf:
            high = self._dist(rows)
            threshold = torch.clamp(high * self.theta, max=self.theta)
        else:
            high, threshold = torch.ones(len(rows)), torch.full((len(rows),), self.theta)
        low = torch.zeros(len(rows))
        while True:
            act = ((high - low) > threshold) & (self._left(rows) > 0)
            if not bool(act.any()):
                break
            mid = (low[act] + high[act]) / 2
            ok = self._ask(rows[act], self._project(x[act], start[act], mid))
            high[act] = torch.where(ok, mid, high[act])
            low[act] = torch.where(ok, low[act], mid)
        self.adv[rows] = self._project(x, start, high)

    def _project(self, x: torch.Tensor, start: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The point at parameter ``a``: the Linf box of radius ``a``, or the L2 blend."""
        if self.linf:
            r = per_sample(a, x)
            return torch.minimum(torch.maximum(start, x - r), x + r)
        return _mix(x, start, a)

    def _direction(self, rows: torch.Tensor, delta: torch.Tensor,
                   num: int) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Monte-Carlo estimate of the boundary normal at each ``adv[rows]`` (unit or sign).

        A sample gets ``num`` directions, or what its budget has left; one without budget is
        dropped from the returned ``rows``.
        """
        counts = torch.clamp(self._left(rows), max=num)
        keep = counts > 0
        rows, delta, counts = rows[keep], delta[keep], counts[keep]
        if len(rows) == 0:
            return rows, self.adv[rows]
        per_chunk = max(1, _ESTIMATE_ELEMENTS // (int(counts.max()) * self.d))
        grads = [self._estimate(rows[i : i + per_chunk], delta[i : i + per_chunk],
                                counts[i : i + per_chunk])
                 for i in range(0, len(rows), per_chunk)]  # fmt: skip
        grad = torch.cat(grads)
        if self.linf:
            return rows, grad.sign()
        size = torch.linalg.vector_norm(grad.flatten(1), dim=1).clamp_min(1e-12)
        return rows, grad / per_sample(size, grad)

    def _estimate(self, rows: torch.Tensor, delta: torch.Tensor,
                  counts: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """Mean of ``phi * u`` over random unit directions ``u`` (phi: +1 adversarial, -1 not)."""
        m, k, shape = len(rows), int(counts.max()), self.x.shape[1:]
        if self.linf:
            u = torch.rand((m, k, *shape), generator=self.gen) * 2 - 1
        else:
            u = torch.randn((m, k, *shape), generator=self.gen)
        u = u / torch.linalg.vector_norm(u.flatten(2), dim=2).clamp_min(1e-12).view(
            m, k, *[1] * len(shape)
        )
        base = self.adv[rows].unsqueeze(1)
        step = delta.view(m, 1, *[1] * len(shape))
        points = (base + step * u).clamp(self.lo, self.hi)
        u = (points - base) / step
        valid = torch.arange(k)[None, :] < counts[:, None]
        owner = rows[:, None].expand(m, k)[valid]
        phi = torch.zeros(m, k)
        phi[valid] = torch.where(self._ask(owner, points[valid]), 1.0, -1.0)
        mean = phi.sum(dim=1, keepdim=True) / counts[:, None]
        centred = torch.where(mean.abs() == 1.0, phi, (phi - mean) * valid)
        weights = centred.view(m, k, *[1] * len(shape))
        grad: torch.Tensor = (weights * u).sum(dim=1) / counts.view(m, *[1] * len(shape))
        return grad

    def _step(self, rows: torch.Tensor, update: torch.Tensor, size: torch.Tensor) -> None:
        """Geometric step search: the largest ``size / 2^j`` along ``update`` still adversarial."""
        start, size = self.adv[rows], size.clone()
        done = torch.zeros(len(rows), dtype=torch.bool)
        for _ in range(_HALVINGS):
            act = ~done & (self._left(rows) > 0)
            if not bool(act.any()):
                return
            points = start[act] + per_sample(size[act], start[act]) * update[act]
            points = points.clamp(self.lo, self.hi)
            ok = self._ask(rows[act], points)
            idx = act.nonzero().flatten()
            self.adv[rows[idx[ok]]] = points[ok]
            done[idx[ok]] = True
            size[idx[~ok]] /= 2


def _mix(x: torch.Tensor, start: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``(1 - a) x + a start`` per sample."""
    w = per_sample(a, x)
    return (1 - w) * x + w * start
