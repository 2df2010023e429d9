"""The ``robustness.evasion`` check: white-box robust accuracy over an epsilon grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aiarmor.core.errors import CheckError
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.robustness.attacks.base import predict_labels, run_attack
from aiarmor.robustness.attacks.pgd import PGD, wilson_interval
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets.base import DifferentiableTarget

_WORK = {
    Budget.QUICK: (200, 10, 1),
    Budget.STANDARD: (500, 40, 1),
    Budget.THOROUGH: (100_000, 100, 3),
}
"""(samples, PGD steps, restarts) per budget."""
_REL_EPS = {"linf": (0.02, 0.05, 0.1, 0.2), "l2": (0.1, 0.25, 0.5, 1.0)}
"""Default epsilons as fractions of the bounds' width (L2 also times sqrt(dims) / 8)."""


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Robust accuracy at one epsilon."""

    epsilon: float
    robust: int
    n: int

    @property
    def accuracy(self) -> float:
        """Fraction of the evaluated samples still correct under attack."""
        return self.robust / self.n if self.n else float("nan")


@register
class EvasionCheck(Check):
    """Evasion: robust accuracy under white-box attacks (PGD) over an epsilon grid.

    What it detects:
        How easily small, bounded input perturbations flip the model's decisions: robust
        accuracy at each epsilon of a grid (Linf or L2), measured with PGD (Madry et al.,
        ICLR 2018) with a random start; each larger epsilon attacks only the points still
        robust at the smaller one (a point fooled inside a ball is fooled inside any larger
        ball), so the curve costs little more than its first point. Robust accuracy below
        ``min_robust_accuracy`` at ``reference_epsilon`` is a high finding (by default the grid
        is 0.02, 0.05, 0.1, 0.2 times the input range for Linf, and the threshold applies at
        0.1 times the range, the customary MNIST-scale budget). A sanity attack at half the
        input range must bring accuracy near zero; when it does not, gradients are likely
        masked (Athalye et al., ICML 2018) and the measured robustness cannot be trusted
        (medium finding).

    Why it matters:
        Adversarial examples let an attacker steer a deployed model with inputs a human would
        not notice. PGD is a lower bound on the attacker's success: APGD, minimum-norm and
        black-box attacks (issue #4) tighten it.

    Standards: MITRE ATLAS AML.T0043 (Craft Adversarial Data) and AML.T0015 (Evade AI
    Model), OWASP ML01 (Input Manipulation Attack), NIST AI RMF MEASURE 2.7.
    """

    id = "robustness.evasion"
    title = "Evasion robustness (white-box)"
    summary = "Robust accuracy under bounded white-box attacks, and gradient-masking signs."
    standards = ("ATLAS:AML.T0043", "ATLAS:AML.T0015", "OWASP-ML:ML01", "NIST-AI-RMF:MEASURE-2.7")
    requires = ("gradients",)
    params = (
        Param("norm", str, "linf", "linf or l2."),
        Param("epsilons", list, None, "Perturbation budgets (default: relative to bounds)."),
        Param("min_robust_accuracy", float, 0.5,
              "Robust accuracy below this at reference_epsilon is a finding.",
              min=0.0, max=1.0),
        Param("reference_epsilon", float, None,
              "Epsilon the threshold applies at (default: 0.1 x the input range for the "
              "default Linf grid, else the smallest epsilon of the grid).", min=0.0),
    )  # fmt: skip
    metrics = (
        "clean_accuracy", "robust_accuracy.*", "robust_accuracy_ci_low.*",
        "robust_accuracy_ci_high.*", "sanity_accuracy", "n_samples", "queries",
    )  # fmt: skip

    def applicable(self, ctx: CheckContext) -> str | None:
        """Needs gradients; black-box evasion (Square, HopSkipJump) is not built yet."""
        if not isinstance(ctx.target, DifferentiableTarget):
            return "needs a differentiable (PyTorch) target; black-box evasion is not built yet"
        if ctx.params["norm"] not in _REL_EPS:
            raise CheckError(f"norm must be linf or l2, got {ctx.params['norm']!r}")
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Attack the grid in increasing epsilon, then run the masking sanity attack."""
        n, steps, restarts = _WORK[ctx.budget]
        rows = np.sort(ctx.rng().choice(len(ctx.data), min(n, len(ctx.data)), replace=False))
        x = torch.from_numpy(np.ascontiguousarray(ctx.data.x[rows]))
        y = torch.from_numpy(ctx.data.y[rows])
        bounds = _bounds(ctx.target, ctx.data.x)
        epsilons = _epsilons(ctx.params, bounds, x[0].numel())
        q0 = ctx.target.queries
        attack = PGD(steps=steps, restarts=restarts)
        alive = predict_labels(ctx.target, x) == y
        clean = int(alive.sum())
        curve = []
        for i, eps in enumerate(epsilons):
            alive = self._attack(
                ctx, attack, x, y, alive, ThreatModel(Norm(ctx.params["norm"]), eps, bounds), i
            )
            curve.append(CurvePoint(eps, int(alive.sum()), len(x)))
            ctx.report(i + 1, len(epsilons) + 1, f"epsilon {eps:g}")
        sanity = self._sanity(ctx, x, y, bounds)
        metrics = _metrics(curve, clean, len(x), sanity)
        metrics["queries"] = float(ctx.target.queries - q0)
        findings = self._findings(curve, sanity, clean / len(x), ctx)
        return CheckOutcome(metrics, tuple(findings), (_chart(curve, clean / len(x)),))

    def _attack(self, ctx: CheckContext, attack: PGD, x: torch.Tensor, y: torch.Tensor,
                alive: torch.Tensor, threat: ThreatModel, i: int) -> torch.Tensor:  # fmt: skip
        idx = alive.nonzero().flatten()
        if len(idx) == 0:
            return alive
        res = run_attack(attack, ctx.target, x[idx], y[idx], threat, seed=ctx.torch_seed() + i)
        out = alive.clone()
        out[idx] = res.robust
        return out

    def _sanity(self, ctx: CheckContext, x: torch.Tensor, y: torch.Tensor,
                bounds: tuple[float, float]) -> float:  # fmt: skip
        """Accuracy under PGD-20 at Linf half the input range: should be near zero."""
        threat = ThreatModel(Norm.LINF, (bounds[1] - bounds[0]) / 2, bounds)
        sub = min(len(x), 100)
        res = run_attack(PGD(steps=20), ctx.target, x[:sub], y[:sub], threat,
                         seed=ctx.torch_seed() + 99)  # fmt: skip
        return res.robust_accuracy

    def _findings(self, curve: list[CurvePoint], sanity: float, clean: float,
                  ctx: CheckContext) -> list[Finding]:  # fmt: skip
        out = []
        ref = ctx.params["reference_epsilon"]
        if ref is not None:
            point = min(curve, key=lambda c: abs(c.epsilon - ref))
        else:  # default grid: its 0.1 x range point (Linf); a user grid: its smallest epsilon
            point = curve[2] if ctx.params["epsilons"] is None else curve[0]
        low, high = wilson_interval(point.robust, point.n)
        if point.accuracy < ctx.params["min_robust_accuracy"]:
            out.append(self.finding(
                Severity.HIGH,
                f"Robust accuracy {point.accuracy:.1%} at {ctx.params['norm']} epsilon "
                f"{point.epsilon:g}",
                f"PGD perturbations of at most {point.epsilon:g} ({ctx.params['norm']}) flip "
                f"the model's answer on {clean - point.accuracy:.1%} of the samples (clean "
                f"accuracy {clean:.1%}; robust accuracy 95% CI {low:.1%}-{high:.1%}); the "
                f"policy requires {ctx.params['min_robust_accuracy']:.0%}.",
                "Harden with adversarial training (PGD-AT / TRADES), validate and bound inputs "
                "at the gateway, and detect query patterns of attacks at run time.",
                evidence={"curve": [(c.epsilon, c.accuracy) for c in curve]},
            ))  # fmt: skip
        if sanity > 0.2:
            out.append(self.finding(
                Severity.MEDIUM,
                "Gradient masking suspected: accuracy does not fall at a huge epsilon",
                f"At Linf epsilon of half the input range, where any input can be turned into "
                f"any other, PGD still leaves {sanity:.0%} accuracy: the gradients are likely "
                "masked or obfuscated, so the robust accuracy above overstates robustness.",
                "Evaluate with black-box and adaptive attacks (BPDA, EOT) before trusting the "
                "defence; remove non-differentiable or randomized preprocessing from the "
                "evaluated graph.",
                evidence={"sanity_accuracy": sanity},
                standards=("ATLAS:AML.T0015", "OWASP-ML:ML01", "NIST-AI-RMF:MEASURE-2.7"),
            ))  # fmt: skip
        return out


def _bounds(target: Any, x: np.ndarray) -> tuple[float, float]:
    if target.bounds is not None:
        return (float(target.bounds[0]), float(target.bounds[1]))
    lo, hi = float(x.min()), float(x.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _epsilons(params: Any, bounds: tuple[float, float], dims: int) -> tuple[float, ...]:
    given = params["epsilons"]
    if given is not None:
        if not given or not all(isinstance(e, int | float) and e > 0 for e in given):
            raise CheckError("epsilons must be a non-empty list of positive numbers")
        return tuple(sorted(float(e) for e in given))
    width = bounds[1] - bounds[0]
    scale = width if params["norm"] == "linf" else width * np.sqrt(dims) / 8
    return tuple(round(r * scale, 6) for r in _REL_EPS[params["norm"]])


def _metrics(curve: list[CurvePoint], clean: int, n: int, sanity: float) -> dict[str, float]:
    out = {"clean_accuracy": clean / n, "n_samples": float(n), "sanity_accuracy": sanity}
    for c in curve:
        low, high = wilson_interval(c.robust, c.n)
        out[f"robust_accuracy.eps={c.epsilon:g}"] = c.accuracy
        out[f"robust_accuracy_ci_low.eps={c.epsilon:g}"] = low
        out[f"robust_accuracy_ci_high.eps={c.epsilon:g}"] = high
    return out


def _chart(curve: list[CurvePoint], clean: float) -> Chart:
    xs = (0.0, *(c.epsilon for c in curve))
    ys = (clean, *(c.accuracy for c in curve))
    return Chart(
        id="accuracy_vs_epsilon",
        title="Robust accuracy vs epsilon (PGD)",
        kind="line",
        series=(Series("robust accuracy", xs, ys),),
        x_label="epsilon",
        y_label="accuracy",
    )
