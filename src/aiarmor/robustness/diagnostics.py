"""Gradient-masking and obfuscation diagnostics for a robustness evaluation.

A defence that breaks gradient-based attacks without making the model robust (shattered,
stochastic, vanishing or exploding gradients) makes a white-box evaluation report robustness
that is not there. Athalye, Carlini and Wagner (ICML 2018) list the tell-tale signs; Carlini et
al. ("On Evaluating Adversarial Robustness", 2019) and AutoAttack's ``checks.py`` (Croce and
Hein, ICML 2020) turn them into tests. :func:`diagnose_masking` runs them after
:func:`~aiarmor.robustness.evaluation.evaluate_robustness`:

``randomized``
    The model answers the same inputs differently on repeated queries; the evaluation then
    used Expectation over Transformation (EOT). Reported, not a defect in itself.
``zero_gradients``
    More than 5% of the clean-correct points have an identically zero input gradient of the
    logit margin (non-differentiable preprocessing such as quantization, or saturation).
``unbounded_attack``
    PGD on the logit margin from the clean input, with an epsilon that covers the whole input
    domain (so every point can be turned into any other), leaves more than 10% of the points
    correct: the attack, not the model, is failing.
``single_step``
    FGSM fools points the multi-step ensemble could not, at some epsilon of the grid (at least
    2 points and 1% of the samples): multi-step attacks should dominate one step.
``black_box``
    Square, which uses no gradients, fools points at the largest epsilon that the white-box
    ensemble left robust (at least 2 points and 1% of the samples).

The extra adversarial points the diagnostics find are re-verified by the attack framework like
any other and reported as evidence (with the robust accuracy they imply); they are not folded
into the evaluation's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from aiarmor.robustness.attacks.base import run_attack
from aiarmor.robustness.attacks.eot import loss_and_grad, margin
from aiarmor.robustness.attacks.fmn import widest_threat
from aiarmor.robustness.attacks.pgd import PGD, fgsm
from aiarmor.robustness.budgets import evasion_budget
from aiarmor.robustness.evaluation import RobustnessEvaluation, wilson_interval
from aiarmor.robustness.threat import ThreatModel
from aiarmor.targets.base import DifferentiableTarget

ZERO_GRADIENT_FRACTION = 0.05
"""``zero_gradients`` fires above this fraction of points."""
UNBOUNDED_ACCURACY = 0.10
"""``unbounded_attack`` fires above this accuracy."""
EXTRA_POINTS = (2, 0.01)
"""``single_step``/``black_box`` fire from this many extra points and fraction of samples."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """The outcome of one masking test."""

    name: str
    """``randomized``, ``zero_gradients``, ``unbounded_attack``, ``single_step`` or
    ``black_box``."""
    ran: bool
    """False when the test could not run on this target (then ``fired`` is False)."""
    fired: bool
    """The sign of masking (or randomness) was observed."""
    value: float
    """The measured quantity (a fraction or a count; NaN when not run)."""
    detail: str
    """What was observed, in a sentence or two."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """Machine-readable numbers behind ``detail``."""


@dataclass(frozen=True, slots=True)
class MaskingDiagnostics:
    """All masking tests of one evaluation."""

    diagnostics: tuple[Diagnostic, ...]
    """Every test, in the order above."""
    queries: int
    """Model queries (samples) the tests used."""

    @property
    def fired(self) -> tuple[Diagnostic, ...]:
        """The tests that fired."""
        return tuple(d for d in self.diagnostics if d.fired)

    def get(self, name: str) -> Diagnostic:
        """The test called ``name`` (KeyError when unknown)."""
        for d in self.diagnostics:
            if d.name == name:
                return d
        raise KeyError(name)


def diagnose_masking(
    target: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    evaluation: RobustnessEvaluation,
    *,
    seed: int = 0,
    max_points: int = 100,
) -> MaskingDiagnostics:
    """Run the masking tests on the samples ``(x, y)`` that ``evaluation`` was computed on."""
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    q0 = int(getattr(target, "queries", 0))
    sample = _sample(evaluation.clean_correct, max_points, seed)
    tests = [_randomized(evaluation)]
    if isinstance(target, DifferentiableTarget):
        tests += [
            _zero_gradients(target, x[sample], y[sample]),
            _unbounded(target, x[sample], y[sample], evaluation, seed),
            _single_step(target, x, y, evaluation, seed),
            _black_box(target, x, y, evaluation, seed, max_points // 2),
        ]
    else:
        skipped = "the target has no gradients: the evaluation is black-box already"
        tests += [Diagnostic(name, False, False, math.nan, skipped) for name in _WHITE_BOX]
    return MaskingDiagnostics(tuple(tests), int(getattr(target, "queries", 0)) - q0)


_WHITE_BOX = ("zero_gradients", "unbounded_attack", "single_step", "black_box")


def _randomized(ev: RobustnessEvaluation) -> Diagnostic:
    if not ev.randomized:
        return Diagnostic("randomized", True, False, 0.0, "Repeated queries gave equal outputs.")
    return Diagnostic(
        "randomized", True, True, float(ev.eot_samples),
        "The model answers the same input differently on repeated queries (a randomized "
        f"defence or inference-time dropout/noise); every gradient was averaged over "
        f"{ev.eot_samples} draws (Expectation over Transformation) and success is judged on "
        "one query, so the robust accuracy is itself a random quantity.",
        {"eot_samples": ev.eot_samples},
    )  # fmt: skip


def _zero_gradients(target: Any, x: torch.Tensor, y: torch.Tensor) -> Diagnostic:
    if len(x) == 0:
        return Diagnostic("zero_gradients", False, False, math.nan, "No clean-correct points.")
    _, _, grad = loss_and_grad(target, x, y, margin)
    zero = float((grad.flatten(1).abs().amax(dim=1) == 0).float().mean())
    return Diagnostic(
        "zero_gradients", True, zero > ZERO_GRADIENT_FRACTION, zero,
        f"The input gradient of the logit margin is exactly zero on {zero:.0%} of the "
        "clean-correct points: gradient-based attacks cannot move them (non-differentiable "
        "preprocessing such as quantization or rounding, or saturated activations).",
        {"zero_gradient_fraction": zero, "points": len(x)},
    )  # fmt: skip


def _unbounded(target: Any, x: torch.Tensor, y: torch.Tensor, ev: RobustnessEvaluation,
               seed: int) -> Diagnostic:  # fmt: skip
    if len(x) == 0:
        return Diagnostic("unbounded_attack", False, False, math.nan, "No clean-correct points.")
    threat = widest_threat(ev.norm, ev.bounds, tuple(x.shape[1:]))
    attack = PGD(steps=25, rel_stepsize=0.1, random_start=False, loss="margin",
                 eot_samples=ev.eot_samples)  # fmt: skip
    acc = run_attack(attack, target, x, y, threat, seed=seed).robust_accuracy
    return Diagnostic(
        "unbounded_attack", True, acc > UNBOUNDED_ACCURACY, acc,
        f"With an epsilon of {threat.epsilon:g} ({ev.norm.value}), which lets the attacker "
        f"reach every point of the input domain, PGD still leaves {acc:.0%} of the points "
        "correct: the attack is failing, so accuracy at small epsilons overstates robustness.",
        {"epsilon": threat.epsilon, "accuracy": acc, "points": len(x)},
    )  # fmt: skip


def _single_step(target: Any, x: torch.Tensor, y: torch.Tensor, ev: RobustnessEvaluation,
                 seed: int) -> Diagnostic:  # fmt: skip
    per_eps, worst = {}, 0
    attack = fgsm(eot_samples=ev.eot_samples)
    for point in ev.points:
        idx = ev.clean_correct.nonzero().flatten()
        if len(idx) == 0:
            break
        threat = ThreatModel(ev.norm, point.epsilon, ev.bounds)
        res = run_attack(attack, target, x[idx], y[idx], threat, seed=seed)
        extra = int((res.success & point.robust[idx]).sum())
        per_eps[f"{point.epsilon:g}"] = {
            "fgsm_accuracy": _acc(res.robust, ev.n),
            "ensemble_accuracy": point.accuracy,
            "extra": extra,
        }
        worst = max(worst, extra)
    fired = _enough(worst, ev.n)
    return Diagnostic(
        "single_step", True, fired, float(worst),
        f"One FGSM step fooled up to {worst} point(s) that the multi-step ensemble left robust "
        "at the same epsilon; iterative attacks should dominate a single step unless the "
        "loss surface is masked or highly irregular.",
        {"per_epsilon": per_eps},
    )  # fmt: skip


def _black_box(target: Any, x: torch.Tensor, y: torch.Tensor, ev: RobustnessEvaluation,
               seed: int, max_points: int) -> Diagnostic:  # fmt: skip
    probe = evasion_budget(ev.budget).black_box_probe
    attack = probe.build(int(target.n_classes))
    if not ev.points:
        return Diagnostic("black_box", False, False, math.nan, "No epsilon was evaluated.")
    point = ev.points[-1]
    idx = _sample(point.robust, max_points, seed)
    if len(idx) == 0:
        return Diagnostic("black_box", True, False, 0.0, "No point was left robust.")
    threat = ThreatModel(ev.norm, point.epsilon, ev.bounds)
    extra = int(run_attack(attack, target, x[idx], y[idx], threat, seed=seed).success.sum())
    bound = (point.n_robust - extra) / ev.n
    return Diagnostic(
        "black_box", True, _enough(extra, ev.n), float(extra),
        f"{probe.attack} (no gradients, {attack!r}) fooled {extra} of {len(idx)} points that the "
        f"white-box ensemble left robust at epsilon {point.epsilon:g}: robust accuracy there "
        f"is at most {bound:.1%} (white-box: {point.accuracy:.1%}).",
        {"epsilon": point.epsilon, "attacked": len(idx), "extra": extra,
         "robust_accuracy_at_most": bound, "ci": wilson_interval(point.n_robust - extra, ev.n)},
    )  # fmt: skip


def _sample(mask: torch.Tensor, limit: int, seed: int) -> torch.Tensor:
    """Up to ``limit`` indices of the True entries of ``mask``, seeded, in increasing order."""
    idx = mask.nonzero().flatten()
    if len(idx) <= limit:
        return idx
    order = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))
    return idx[order[:limit]].sort().values


def _enough(extra: int, n: int) -> bool:
    return extra >= max(EXTRA_POINTS[0], math.ceil(EXTRA_POINTS[1] * n))


def _acc(robust: torch.Tensor, n: int) -> float:
    return float(robust.sum()) / n if n else math.nan
