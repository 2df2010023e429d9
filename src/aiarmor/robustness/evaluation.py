"""Robust accuracy over an epsilon grid with an ensemble of attacks (AutoAttack-style).

:func:`evaluate_robustness` runs a fixed, parameter-free ensemble in the spirit of AutoAttack
(Croce and Hein, ICML 2020): the cheap strong attack first, every later attack only on the
points still robust, and a stop as soon as none is left. The grid is walked from the largest
epsilon down, and each smaller epsilon attacks only the points fooled at the larger one: a
point the ensemble cannot fool inside a ball counts as robust inside every smaller ball (any
adversarial point of the smaller ball lies in the larger one, where the attacks already
failed, and attacks only get stronger with epsilon). So every robust point pays for the full
ensemble once, at the largest epsilon where it is robust, instead of once per epsilon, and the
curve is monotone by construction.

Ensembles by budget (white-box, PyTorch targets; the attacks, their order and settings are
data, :data:`~aiarmor.robustness.budgets.EVASION_BUDGETS`, drawn by name from the attack
registry):

* ``quick``: APGD-CE with 25 iterations.
* ``standard``: APGD-CE (100 iterations), then APGD-T (targeted DLR, 100 iterations) towards
  the 3 most likely wrong classes. Our attacks drop every sample the moment it is fooled, so
  this costs a fraction of AutoAttack's standard version (APGD-CE, APGD-T with 9 targets,
  FAB-T, Square 5000) while reaching its robust accuracy on models without masked gradients
  (``bench/bench_evasion.py`` measures both).
* ``thorough``: APGD-CE with 3 restarts, APGD-T towards up to 9 classes, APGD-DLR, the
  minimum-norm attack (FMN) on every point, and Square (5,000 queries).

A target without gradients but with scores is attacked with Square (Andriushchenko et al.,
ECCV 2020), a label-only one with HopSkipJump (Chen et al., S&P 2020). A randomized model
(its outputs differ on repeated queries) is attacked with Expectation over Transformation:
every gradient is averaged over ``eot_samples`` draws.

The minimal perturbations come from FMN (Pintor et al., NeurIPS 2021) on a sample of the
clean-correct points (all of them at ``thorough``); every adversarial point it finds within an
epsilon of the grid also counts at that epsilon. Every success, whatever attack found it, was
re-verified by :func:`~aiarmor.robustness.attacks.base.run_attack`.

Robust accuracy carries a 95% Wilson score interval (Wilson, JASA 1927).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aiarmor.core.capability import Target
from aiarmor.core.errors import ConfigError
from aiarmor.robustness.attacks.base import Attack, predict_labels, run_attack
from aiarmor.robustness.attacks.eot import is_randomized
from aiarmor.robustness.attacks.fmn import minimal_perturbations
from aiarmor.robustness.budgets import EVASION_BUDGETS, EvasionBudget, evasion_budget
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets.base import target_capabilities

BUDGETS = tuple(b.value for b in EVASION_BUDGETS)
"""The budget names :func:`evaluate_robustness` accepts."""

Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``."""


@dataclass(frozen=True, slots=True, eq=False)
class EpsilonResult:
    """Robust accuracy at one epsilon (compared by identity: it holds tensors)."""

    epsilon: float
    """The perturbation budget."""
    robust: torch.Tensor
    """Bool mask over all samples: correct and not fooled by any attack at this epsilon."""
    fooled_by: Mapping[str, int]
    """Attack label -> samples it fooled first at this epsilon (in ensemble order)."""

    @property
    def n(self) -> int:
        """Samples evaluated."""
        return len(self.robust)

    @property
    def n_robust(self) -> int:
        """Samples still robust."""
        return int(self.robust.sum())

    @property
    def accuracy(self) -> float:
        """Robust accuracy: the fraction of all samples still correct under attack."""
        return self.n_robust / self.n if self.n else math.nan

    @property
    def ci(self) -> tuple[float, float]:
        """95% Wilson score interval of the robust accuracy."""
        return wilson_interval(self.n_robust, self.n)


@dataclass(frozen=True, slots=True, eq=False)
class RobustnessEvaluation:
    """What :func:`evaluate_robustness` measured (compared by identity: it holds tensors)."""

    norm: Norm
    """The threat model's norm."""
    bounds: tuple[float, float]
    """The input domain adversarial inputs were kept in."""
    budget: str
    """quick, standard or thorough."""
    clean_correct: torch.Tensor
    """Bool mask: classified correctly without attack."""
    points: tuple[EpsilonResult, ...]
    """One entry per epsilon, increasing."""
    min_norms: torch.Tensor
    """Smallest adversarial perturbation found per sample (FMN): 0 when misclassified
    already, inf when none was found, NaN where FMN did not run."""
    attacks: tuple[str, ...]
    """``repr`` of every attack of the ensemble, in order."""
    attack_names: tuple[str, ...]
    """The registered name of every attack of the ensemble, in order."""
    eot_samples: int
    """Gradient samples per step (1 unless the model is randomized)."""
    randomized: bool
    """The model answered the same inputs differently on repeated queries."""
    queries: int
    """Model queries (samples) the evaluation used."""

    @property
    def n(self) -> int:
        """Samples evaluated."""
        return len(self.clean_correct)

    @property
    def clean_accuracy(self) -> float:
        """Accuracy without attack."""
        return float(self.clean_correct.float().mean()) if self.n else math.nan

    @property
    def curve(self) -> tuple[tuple[float, float], ...]:
        """(epsilon, robust accuracy) pairs, starting with (0, clean accuracy)."""
        return ((0.0, self.clean_accuracy), *((p.epsilon, p.accuracy) for p in self.points))

    def at(self, epsilon: float) -> EpsilonResult:
        """The result at the grid epsilon closest to ``epsilon``."""
        return min(self.points, key=lambda p: abs(p.epsilon - epsilon))

    @property
    def found_min_norms(self) -> torch.Tensor:
        """The finite minimal norms of clean-correct points FMN fooled."""
        m = self.min_norms[self.clean_correct]
        return m[torch.isfinite(m)]

    @property
    def median_min_norm(self) -> float:
        """Median minimal perturbation over the clean-correct points FMN ran on (inf counts)."""
        m = self.min_norms[self.clean_correct]
        m = m[~torch.isnan(m)]
        return float(m.median()) if len(m) else math.nan


@dataclass(frozen=True, slots=True)
class PlannedAttack:
    """An attack of the ensemble with the registered name reports show for it."""

    name: str
    """The registered name (``APGD-CE``, ``Square``...)."""
    attack: Attack[Any]
    """The configured attack."""


def evaluate_robustness(
    target: Target,
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    *,
    norm: Norm | str,
    epsilons: tuple[float, ...] | list[float],
    budget: str = "standard",
    seed: int = 0,
    bounds: tuple[float, float] | None = None,
    eot_samples: int | None = None,
    min_norm_samples: int | None = None,
    progress: Progress | None = None,
) -> RobustnessEvaluation:
    """Robust accuracy of ``target`` on ``(x, y)`` at each epsilon, with an attack ensemble.

    ``bounds`` default to the target's, else to the data's range. ``eot_samples`` None means:
    1, or the budget's EOT sample count when the model is randomized. ``min_norm_samples``
    overrides how many clean-correct points FMN runs on (0 turns it off). Deterministic for a
    ``seed`` (on a deterministic model).
    """
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    grid = _grid(epsilons)
    budget = _budget(budget)
    plan = evasion_budget(budget)
    norm, bounds = Norm(norm), _bounds(bounds, target, x)
    q0 = int(getattr(target, "queries", 0))
    randomized = is_randomized(target, x[: min(len(x), 32)])
    eot = eot_samples or (plan.eot_samples if randomized else 1)
    attacks = ensemble(target, budget, eot)
    clean = predict_labels(target, x) == y
    min_norms = _min_norms(target, x, y, clean, norm, bounds, plan, eot, seed, min_norm_samples)
    robust_above, points = torch.zeros_like(clean), []
    for i, eps in enumerate(reversed(grid)):
        alive = clean & ~robust_above  # robust at a larger epsilon: robust here too
        threat = ThreatModel(norm, eps, bounds)
        fooled_by = _attack_all(attacks, target, x, y, alive, threat, seed + 7919 * (i + 1))
        robust = robust_above | alive
        extra = robust & (min_norms <= eps)  # FMN's adversarial points inside this ball
        if bool(extra.any()):
            robust &= ~extra
            fooled_by[plan.min_norm.attack] = int(extra.sum())
        points.append(EpsilonResult(eps, robust, fooled_by))
        robust_above = robust
        if progress is not None:
            progress(i + 1, len(grid), f"epsilon {eps:g}")
    return RobustnessEvaluation(
        norm=norm,
        bounds=bounds,
        budget=budget,
        clean_correct=clean,
        points=tuple(reversed(points)),
        min_norms=min_norms,
        attacks=tuple(repr(a.attack) for a in attacks),
        attack_names=tuple(a.name for a in attacks),
        eot_samples=eot,
        randomized=randomized,
        queries=int(getattr(target, "queries", 0)) - q0,
    )


def ensemble(target: Target, budget: str, eot_samples: int = 1) -> tuple[PlannedAttack, ...]:
    """The attacks :func:`evaluate_robustness` runs on ``target`` at ``budget``, in order
    (the budget's ensemble for the richest access the target offers).

    ConfigError when no ensemble of the budget fits the target's capabilities.
    """
    steps = evasion_budget(_budget(budget)).ensemble_for(target_capabilities(target))
    if not steps:
        raise ConfigError(f"no attack of the {budget} budget can attack this target")
    n_classes = int(target.n_classes)
    return tuple(PlannedAttack(s.attack, s.build(n_classes, eot_samples)) for s in steps)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for the default ``z``)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _attack_all(attacks: tuple[PlannedAttack, ...], target: Target, x: torch.Tensor,
                y: torch.Tensor, alive: torch.Tensor, threat: ThreatModel,
                seed: int) -> dict[str, int]:  # fmt: skip
    """Run the ensemble on the ``alive`` samples (updated in place); who fooled how many."""
    fooled_by: dict[str, int] = {}
    for j, planned in enumerate(attacks):
        idx = alive.nonzero().flatten()
        if len(idx) == 0:
            break
        res = run_attack(planned.attack, target, x[idx], y[idx], threat, seed=seed + j)
        alive[idx] = res.robust
        fooled_by[planned.name] = fooled_by.get(planned.name, 0) + int((~res.robust).sum())
    return fooled_by


def _min_norms(target: Target, x: torch.Tensor, y: torch.Tensor, clean: torch.Tensor,
               norm: Norm, bounds: tuple[float, float], plan: EvasionBudget, eot: int,
               seed: int, override: int | None) -> torch.Tensor:  # fmt: skip
    """The minimum-norm attack's minimal norms on a seeded sample of the clean-correct points
    (NaN elsewhere)."""
    out = torch.where(clean, math.nan, 0.0)
    limit = override if override is not None else plan.min_norm_points
    attack = plan.min_norm.build(int(target.n_classes), eot)
    if not attack.supports(target) or limit == 0 or not bool(clean.any()):
        return out
    idx = clean.nonzero().flatten()
    if limit is not None and len(idx) > limit:
        order = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))
        idx = idx[order[:limit]].sort().values
    norms, _ = minimal_perturbations(target, x[idx], y[idx], norm=norm, bounds=bounds,
                                     attack=attack, seed=seed)  # fmt: skip
    out[idx] = norms
    return out


def _grid(epsilons: tuple[float, ...] | list[float]) -> tuple[float, ...]:
    values = [float(e) for e in epsilons]
    if not values or not all(math.isfinite(e) and e > 0 for e in values):
        raise ConfigError(f"epsilons must be a non-empty list of positive numbers, got {epsilons}")
    return tuple(sorted(set(values)))


def _budget(budget: str) -> str:
    value = str(budget)
    if value not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r} (expected one of {BUDGETS})")
    return value


def _bounds(
    bounds: tuple[float, float] | None, target: Target, x: torch.Tensor
) -> tuple[float, float]:
    if bounds is None:
        bounds = getattr(target, "bounds", None)
    if bounds is None:
        lo, hi = (float(x.min()), float(x.max())) if x.numel() else (0.0, 1.0)
        bounds = (lo, hi) if hi > lo else (lo, lo + 1.0)
    return (float(bounds[0]), float(bounds[1]))
