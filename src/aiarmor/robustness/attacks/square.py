"""The Square attack (Andriushchenko et al., ECCV 2020): score-based random search, Linf and L2.

Square needs only the model's scores, so it attacks any :class:`~aiarmor.targets.ScoreTarget`
(a PyTorch module, a scikit-learn estimator with ``predict_proba``, any callable returning
probabilities or logits) and is blind to gradient masking. Each step changes the current best
perturbation inside one random square window and keeps the change when it lowers the margin
loss (true-class score minus the best other one, on the log scale); the window covers a
fraction ``p`` of the input that shrinks on the paper's schedule.

* Linf: the start is vertical stripes of +-epsilon (one random sign per column and channel),
  a step sets the window to one random +-epsilon per channel.
* L2: the start is a grid of pseudo-Gaussian bumps of random sign scaled to norm epsilon, a
  step moves the mass of a second window into a new bump in the first one, keeping the norm
  at epsilon.

Inputs of any layout are seen as ``(channels, height, width)``: images as they are, a 2-D
sample as one channel, and a vector of features (a table row) as a ``1 x d`` image, where a
"square" becomes a contiguous window of features covering the same fraction ``p``.

Torch end to end under :func:`torch.inference_mode`; a sample leaves the working batch (and
is never queried again) the moment its scores say it is fooled. Each sample costs at most
``n_queries`` queries: one for the start, one per step.

Reference:
    M. Andriushchenko, F. Croce, N. Flammarion, M. Hein, "Square Attack: a query-efficient
    black-box adversarial attack via random search", ECCV 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from aiarmor.core.capability import Capability
from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks._queries import margins
from aiarmor.robustness.attacks.base import Attack
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets.base import ScoreTarget

_RETRIES = 10
"""Redraws of a Linf window whose new signs would leave the image unchanged."""
_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64),
             (6000, 128), (8000, 256), (10000, 512))  # fmt: skip
"""(iteration out of 10,000, divisor of p_init) of the paper's step-size schedule."""


@dataclass(frozen=True, kw_only=True, repr=False)
class Square(Attack[ScoreTarget]):
    """Untargeted Square attack on the margin loss, Linf or L2 (from the threat model).

    Hyperparameters (keyword-only):
        n_queries: query budget per sample (the start counts as one).
        p_init: initial fraction of the input a window covers (AutoAttack and ART use 0.8;
            the paper 0.05 for Linf on ImageNet, 0.1 for L2).
    """

    n_queries: int = 5000
    p_init: float = 0.8
    needs = Capability.SCORES

    def __post_init__(self) -> None:
        if isinstance(self.n_queries, bool) or not isinstance(self.n_queries, int):
            raise ConfigError(f"n_queries must be an integer, got {self.n_queries!r}")
        if self.n_queries < 1:
            raise ConfigError(f"n_queries must be >= 1, got {self.n_queries}")
        if not 0.0 < self.p_init <= 1.0:
            raise ConfigError(f"p_init must be in (0, 1], got {self.p_init}")

    def perturb(
        self,
        target: ScoreTarget,
        x: torch.Tensor,
        y: torch.Tensor,
        threat: ThreatModel,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Random search from the start; a sample keeps its best (lowest-margin) point."""
        if len(x) == 0 or threat.epsilon == 0:
            return x.clone()
        with torch.inference_mode():
            out = self._search(target, x.detach().float(), y, threat, generator)
        return out.to(x.dtype).clone()  # a normal tensor again, usable outside inference mode

    def _search(self, target: Any, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel,
                gen: torch.Generator) -> torch.Tensor:  # fmt: skip
        img = as_image(x)
        best = (
            _linf_start(img, threat, gen)
            if threat.norm is Norm.LINF
            else _l2_start(img, threat, gen)
        )
        margin, fooled = margins(target, best.reshape(x.shape), y)
        step = _linf_step if threat.norm is Norm.LINF else _l2_step
        for i in range(1, self.n_queries):
            alive = (~fooled).nonzero().flatten()
            if len(alive) == 0:
                break
            p = p_schedule(self.p_init, i, self.n_queries)
            cand = step(img[alive], best[alive], p, threat, gen)
            m, f = margins(target, cand.reshape(len(alive), *x.shape[1:]), y[alive])
            better = (m < margin[alive]) | f
            keep = alive[better]
            best[keep], margin[keep], fooled[keep] = cand[better], m[better], f[better]
        return best.reshape(x.shape)


def p_schedule(p_init: float, i: int, n_queries: int) -> float:
    """The window fraction at step ``i``: p_init halved at the paper's milestones.

    The milestones are those of the reference code for 10,000 queries, rescaled to the budget.
    """
    it = int(i / n_queries * 10000)
    for stop, divisor in _SCHEDULE:
        if it <= stop:
            return p_init / divisor
    return p_init


def as_image(x: torch.Tensor) -> torch.Tensor:
    """``x`` viewed as ``(n, channels, height, width)``: a feature vector is a ``1 x d`` image."""
    shape = x.shape[1:]
    if len(shape) == 3:
        return x
    if len(shape) == 2:
        return x.reshape(len(x), 1, *shape)
    return x.reshape(len(x), 1, 1, -1)


def window_side(h: int, w: int, p: float, smallest: int) -> tuple[int, int]:
    """(height, width) of a window covering a fraction ``p`` of an ``h x w`` input.

    Images get a square of side ``sqrt(p h w)``; a ``1 x d`` row of features gets ``p d``
    contiguous features. At least ``smallest``, and smaller than the input where it can be,
    so a window never covers everything.
    """
    if h == 1:
        side = min(max(round(p * w), smallest), max(w - 1, 1))
        return 1, side
    side = min(max(round(math.sqrt(p * h * w)), smallest), max(min(h, w) - 1, 1))
    return side, side


def _signs(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=gen).float() * 2 - 1


def _corner(h: int, w: int, hs: int, ws: int, gen: torch.Generator) -> tuple[slice, ...]:
    """A uniformly placed ``hs x ws`` window, as an index into ``(n, c, h, w)``."""
    top = int(torch.randint(0, h - hs + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - ws + 1, (1,), generator=gen))
    return (slice(None), slice(None), slice(top, top + hs), slice(left, left + ws))


def _linf_start(img: torch.Tensor, threat: ThreatModel, gen: torch.Generator) -> torch.Tensor:
    """Vertical stripes: one random +-epsilon per column and channel."""
    n, c, _, w = img.shape
    stripes = _signs((n, c, 1, w), gen) * threat.epsilon
    return (img + stripes).clamp(*threat.bounds)


def _linf_step(x: torch.Tensor, best: torch.Tensor, p: float, threat: ThreatModel,
               gen: torch.Generator) -> torch.Tensor:  # fmt: skip
    """``best`` with one window set to a fresh +-epsilon per channel (redrawn if no change)."""
    m, c, h, w = x.shape
    win = _corner(h, w, *window_side(h, w, p, 1), gen)
    base, old = x[win], best[win]
    signs = _signs((m, c, 1, 1), gen) * threat.epsilon
    for _ in range(_RETRIES):
        same = ((base + signs).clamp(*threat.bounds) - old).abs().flatten(1).amax(dim=1) < 1e-7
        if not bool(same.any()):
            break
        signs[same] = _signs((int(same.sum()), c, 1, 1), gen) * threat.epsilon
    cand = best.clone()
    cand[win] = (base + signs).clamp(*threat.bounds)
    return cand


def bump(hs: int, ws: int, gen: torch.Generator) -> torch.Tensor:
    """The paper's update pattern: two pseudo-Gaussian halves of opposite sign, unit L2 norm.

    A window with several rows is split into a top and a bottom half (transposed at random
    when square); a single row of features into a left and a right half.
    """
    if hs >= 2:
        top = hs // 2
        out = torch.cat([_rect(top, ws), -_rect(hs - top, ws)], dim=0)
        if hs == ws and bool(torch.rand(1, generator=gen) < 0.5):
            out = out.T.contiguous()
    else:
        left = ws // 2
        out = torch.cat([_rect(1, left), -_rect(1, ws - left)], dim=1)
    unit: torch.Tensor = out / torch.linalg.vector_norm(out).clamp_min(1e-12)
    return unit


def _rect(a: int, b: int) -> torch.Tensor:
    """Nested rectangles around the centre weighted 1/(k+1)^2 (the reference's pseudo-Gaussian)."""
    if a == 0 or b == 0:
        return torch.zeros(a, b)
    rings = max(a // 2, b // 2) + 1
    weights = 1.0 / torch.arange(1, rings + 1, dtype=torch.float32) ** 2
    tail = weights.flip(0).cumsum(0).flip(0)  # tail[k] = sum of the weights of rings >= k
    rows = (torch.arange(a) - a // 2).abs()
    cols = (torch.arange(b) - b // 2).abs()
    out = tail[torch.maximum(rows[:, None], cols[None, :])]
    unit: torch.Tensor = out / torch.linalg.vector_norm(out)
    return unit


def _l2_start(img: torch.Tensor, threat: ThreatModel, gen: torch.Generator) -> torch.Tensor:
    """A grid of bumps (windows a fifth of the side), random sign per channel, norm epsilon."""
    n, c, h, w = img.shape
    hs, ws = max(h // 5, 1), max(w // 5, 1)
    rows, cols = h // hs, w // ws
    top, left = (h - rows * hs) // 2, (w - cols * ws) // 2
    delta = torch.zeros_like(img)
    for i in range(rows):
        for j in range(cols):
            r, s = top + i * hs, left + j * ws
            delta[:, :, r : r + hs, s : s + ws] += bump(hs, ws, gen) * _signs((n, c, 1, 1), gen)
    return (img + _scale(delta, threat.epsilon)).clamp(*threat.bounds)


def _l2_step(x: torch.Tensor, best: torch.Tensor, p: float, threat: ThreatModel,
             gen: torch.Generator) -> torch.Tensor:  # fmt: skip
    """Move the mass of window 2 and the unused budget into a new bump in window 1."""
    m, c, h, w = x.shape
    hs, ws = window_side(h, w, p, 3)
    if hs > 1 and hs % 2 == 0 and hs < min(h, w) - 1:
        hs = ws = hs + 1  # odd sides, as the reference
    win1, win2 = _corner(h, w, hs, ws, gen), _corner(h, w, hs, ws, gen)
    delta = best - x
    both = torch.zeros(1, 1, h, w, dtype=torch.bool)
    both[win1], both[win2] = True, True
    norm_win1 = _norm(delta[win1], (2, 3))
    room = (threat.epsilon**2 - _norm(delta, (1, 2, 3)) ** 2).clamp_min(0) / c
    mass = (room + _norm(delta * both, (2, 3)) ** 2).sqrt()
    new = bump(hs, ws, gen) * _signs((m, c, 1, 1), gen) + delta[win1] / (norm_win1 + 1e-10)
    new = new / _norm(new, (2, 3)).clamp_min(1e-12) * mass
    delta = delta.clone()
    delta[win2] = 0.0
    delta[win1] = new
    return (x + _scale(delta, threat.epsilon)).clamp(*threat.bounds)


def _norm(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    norms: torch.Tensor = torch.linalg.vector_norm(t, dim=dims, keepdim=True)
    return norms


def _scale(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """``delta`` rescaled to L2 norm ``eps`` per sample."""
    return delta / _norm(delta, (1, 2, 3)).clamp_min(1e-12) * eps
