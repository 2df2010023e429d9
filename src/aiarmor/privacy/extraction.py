"""The ``privacy.extraction`` check: how cheaply can the model be copied through its API?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aiarmor.core.capability import Capability, DatasetLike
from aiarmor.core.errors import CheckError
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.targets.base import ScoreTarget, Target

_BUDGETS = {
    Budget.QUICK: (100, 500),
    Budget.STANDARD: (100, 1000),
    Budget.THOROUGH: (100, 1000, 10_000),
}
"""Query budgets tried per work budget (the policy's ``budgets`` overrides them)."""


def harden_full(p: np.ndarray) -> np.ndarray:
    """Full probability vectors, as most endpoints return them."""
    return p


def harden_rounded(p: np.ndarray) -> np.ndarray:
    """Probabilities rounded to one decimal and renormalized (a common output hardening)."""
    r = np.round(p, 1)
    sums = r.sum(axis=1, keepdims=True)
    return np.where(sums > 0, r / np.where(sums > 0, sums, 1), np.eye(p.shape[1])[p.argmax(1)])


def harden_label(p: np.ndarray) -> np.ndarray:
    """Label only: a one-hot vector of the top class."""
    out: np.ndarray = np.eye(p.shape[1])[p.argmax(axis=1)]
    return out


OUTPUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "full": harden_full,
    "rounded": harden_rounded,
    "label": harden_label,
}
"""Output hardening modes the attacker may face (the gateway can enforce each)."""


@dataclass(frozen=True, slots=True)
class ExtractionPoint:
    """One surrogate: its query source, budget, output mode and how good a copy it is."""

    source: str
    budget: int
    output: str
    fidelity: float
    accuracy: float


@register
class ExtractionCheck(Check):
    """Model extraction: train a copy of the model from its answers and measure how good it is.

    What it detects:
        A model that an attacker with API access can copy cheaply. For each query budget the
        check queries the target like an attacker would, with natural inputs (the training
        inputs, standing in for public data from the same distribution) and with synthetic
        inputs (uniform noise in the input bounds), trains a surrogate (a small MLP, distilled
        on the answers: Tramer et al. 2016; Orekondy et al. 2019), and reports its fidelity
        (agreement with the target on held-out data) and its accuracy. It repeats this
        against hardened outputs (probabilities rounded to one decimal; label only), so
        the serving gateway's output hardening can be chosen from evidence.

    Why it matters:
        A stolen copy is the attacker's free white-box model: it transfers adversarial
        examples (the copy's gradients attack the original), enables membership and inversion
        attacks offline, and takes the model's commercial value.

    Findings: a high-fidelity copy (fidelity >= ``max_fidelity``) within ``cheap_budget``
    queries is high; an info finding says how much each output hardening reduced fidelity.

    Standards: MITRE ATLAS AML.T0024.002 (Extract AI Model) and AML.T0005 (Create Proxy AI
    Model), OWASP ML05 (Model Theft), NIST AI RMF MEASURE 2.7.

    References: Tramer et al., "Stealing Machine Learning Models via Prediction APIs",
    USENIX Security 2016; Orekondy et al., "Knockoff Nets", CVPR 2019; Jagielski et al.,
    "High Accuracy and High Fidelity Extraction of Neural Networks", USENIX Security 2020.
    """

    id = "privacy.extraction"
    requires = (Capability.LABELS,)
    title = "Model extraction risk"
    summary = "How many queries an attacker needs to train a high-fidelity copy of the model."
    standards = ("ATLAS:AML.T0024.002", "ATLAS:AML.T0005", "OWASP-ML:ML05",
                 "NIST-AI-RMF:MEASURE-2.7")  # fmt: skip
    params = (
        Param(
            "budgets", list, None, "Query budgets to try (default by work budget).", item=int, min=1
        ),
        Param(
            "max_fidelity",
            float,
            0.9,
            "Fidelity at which a copy counts as high-fidelity.",
            min=0.0,
            max=1.0,
        ),
        Param("cheap_budget", int, 1000, "Budget at or below which a copy is 'cheap'.", min=1),
        Param("epochs", int, 60, "Surrogate training epochs.", min=1),
    )
    metrics = ("fidelity.*", "surrogate_accuracy.*", "target_accuracy", "queries")

    def applicable(self, ctx: CheckContext) -> str | None:
        """Enough evaluation data (any queryable target; scores make the stronger,
        distillation attack possible)."""
        if len(ctx.data) < 20:
            return "too little evaluation data to measure fidelity (need >= 20 samples)"
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Query, distill a surrogate per (source, budget, output), measure fidelity."""
        budgets = _budgets(ctx)
        pool, evaluation = _split(ctx)
        reference = _answers(ctx.target, evaluation.x).argmax(axis=1)
        q0 = ctx.target.queries
        points = []
        modes = OUTPUTS if isinstance(ctx.target, ScoreTarget) else {"label": harden_label}
        sources = {"natural": pool.x, "synthetic": _synthetic(ctx, pool.x, max(budgets))}
        for s_name, inputs in sources.items():
            for budget in budgets:
                queries = inputs[: min(budget, len(inputs))]
                answers = _answers(ctx.target, queries)
                for o_name, harden in modes.items():
                    surrogate = _distill(queries, harden(answers), ctx, budget)
                    pred = _predict(surrogate, evaluation.x)
                    points.append(ExtractionPoint(
                        s_name, len(queries), o_name,
                        float((pred == reference).mean()), float((pred == evaluation.y).mean()),
                    ))  # fmt: skip
                ctx.report(len(points), len(sources) * len(budgets) * len(modes), s_name)
        metrics = _metrics(points, float((reference == evaluation.y).mean()))
        metrics["queries"] = float(ctx.target.queries - q0)
        return CheckOutcome(metrics, tuple(self._findings(points, ctx)), (_chart(points),))

    def _findings(self, points: list[ExtractionPoint], ctx: CheckContext) -> list[Finding]:
        p, out = ctx.params, []
        # the model as exposed without hardening: full scores, or labels for label-only targets
        exposed = "full" if any(q.output == "full" for q in points) else "label"
        cheap = [q for q in points if q.budget <= p["cheap_budget"] and q.output == exposed]
        best = max(cheap, key=lambda q: q.fidelity, default=None)
        if best is not None and best.fidelity >= p["max_fidelity"]:
            out.append(self.finding(
                Severity.HIGH,
                f"A {best.fidelity:.0%}-fidelity copy costs {best.budget} queries",
                f"A surrogate distilled from {best.budget} {best.source} queries "
                f"({best.output} outputs) agrees with the model on {best.fidelity:.1%} of held-out "
                f"inputs and reaches {best.accuracy:.1%} accuracy.",
                "Serve the model through the aiarmor gateway with per-client query budgets, "
                "extraction detection and label-only or rounded outputs; watch for query "
                "patterns from a single identity.",
                evidence={"source": best.source, "budget": best.budget, "output": best.output,
                          "fidelity": best.fidelity, "accuracy": best.accuracy},
            ))  # fmt: skip
        effect = _hardening_effect(points)
        if effect:
            out.append(self.finding(
                Severity.INFO,
                "Effect of output hardening on extraction",
                "Fidelity of the natural-query copy at the largest budget, by output mode: "
                + ", ".join(f"{k} {v:.1%}" for k, v in effect.items()) + ".",
                "Choose the gateway's output hardening from this table.",
                evidence={"fidelity_by_output": effect},
            ))  # fmt: skip
        return out


def _budgets(ctx: CheckContext) -> tuple[int, ...]:
    given = ctx.params["budgets"]
    if given is None:
        return _BUDGETS[ctx.budget]
    if not given or not all(isinstance(b, int) and b > 0 for b in given):
        raise CheckError("budgets must be a non-empty list of positive integers")
    return tuple(sorted(set(given)))


def _split(ctx: CheckContext) -> tuple[DatasetLike, DatasetLike]:
    """The attacker's query pool and the held-out set fidelity is measured on."""
    if ctx.train is not None:
        idx = ctx.rng().permutation(len(ctx.train))
        return ctx.train.subset(idx), ctx.data
    idx = ctx.rng().permutation(len(ctx.data))
    half = len(idx) // 2
    return ctx.data.subset(idx[:half]), ctx.data.subset(idx[half:])


def _synthetic(ctx: CheckContext, x: np.ndarray, n: int) -> np.ndarray:
    """Uniform noise over the input bounds (or the observed feature range)."""
    bounds = getattr(ctx.target, "bounds", None)
    lo, hi = bounds if bounds is not None else (float(x.min()), float(x.max()))
    rng = np.random.default_rng([ctx.seed, 7])
    return rng.uniform(lo, hi, size=(n, *x.shape[1:])).astype(np.float32)


def _answers(target: Target, x: np.ndarray) -> np.ndarray:
    """The target's probabilities (one-hot labels for label-only targets)."""
    if isinstance(target, ScoreTarget):
        proba = np.asarray(target.predict_proba(x), dtype=np.float64)
    else:
        proba = np.eye(target.n_classes)[np.asarray(target.predict(x), dtype=np.int64)]
    if proba.shape != (len(x), target.n_classes) or not np.isfinite(proba).all():
        raise CheckError("the target returned malformed or non-finite answers")
    return proba


def _distill(x: np.ndarray, soft: np.ndarray, ctx: CheckContext, budget: int) -> nn.Module:
    """A small MLP trained on the answers with soft cross-entropy (deterministic).

    The inputs are standardized with the queries' own mean and spread first, as any attacker
    would do: raw tabular features (ages beside incomes) would otherwise stall the training
    and understate the risk.
    """
    d, k = int(np.prod(x.shape[1:])), soft.shape[1]
    flat = x.reshape(len(x), d).astype(np.float32)
    xt = torch.from_numpy(flat)
    yt = torch.from_numpy(soft.astype(np.float32))
    scale = nn.Linear(d, d)
    with torch.no_grad():
        std = torch.from_numpy(flat.std(axis=0)).clamp_min(1e-6)
        scale.weight.copy_(torch.diag(1.0 / std))
        scale.bias.copy_(-torch.from_numpy(flat.mean(axis=0)) / std)
    scale.requires_grad_(False)
    with torch.random.fork_rng():
        torch.manual_seed(ctx.torch_seed() + budget)
        mlp = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, k))
        opt = torch.optim.Adam(mlp.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(ctx.torch_seed())
        xs = scale(xt).detach()
        for _ in range(int(ctx.params["epochs"])):
            for idx in torch.randperm(len(xt), generator=gen).split(64):  # type: ignore[no-untyped-call]
                opt.zero_grad(set_to_none=True)
                logp = torch.log_softmax(mlp(xs[idx]), dim=1)
                loss = -(yt[idx] * logp).sum(dim=1).mean()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
    return nn.Sequential(scale, mlp).eval()


def _predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        logits = model(torch.from_numpy(x.reshape(len(x), -1).astype(np.float32)))
    pred: np.ndarray = logits.argmax(dim=1).numpy()
    return pred


def _metrics(points: list[ExtractionPoint], target_accuracy: float) -> dict[str, float]:
    out = {"target_accuracy": target_accuracy}
    for q in points:
        key = f"{q.source}.budget={q.budget}.output={q.output}"
        out[f"fidelity.{key}"] = q.fidelity
        out[f"surrogate_accuracy.{key}"] = q.accuracy
    return out


def _hardening_effect(points: list[ExtractionPoint]) -> dict[str, float]:
    natural = [q for q in points if q.source == "natural"]
    if len({q.output for q in natural}) < 2:
        return {}
    top = max(q.budget for q in natural)
    return {q.output: q.fidelity for q in natural if q.budget == top}


def _chart(points: list[ExtractionPoint]) -> Chart:
    series = []
    for source in ("natural", "synthetic"):
        for output in OUTPUTS:
            pts = sorted((q.budget, q.fidelity) for q in points
                         if q.source == source and q.output == output)  # fmt: skip
            if pts:
                xs, ys = zip(*pts, strict=True)
                series.append(Series(f"{source}, {output}", tuple(map(float, xs)), ys))
    return Chart(
        id="fidelity",
        title="Surrogate fidelity vs query budget",
        kind="line",
        series=tuple(series),
        x_label="queries",
        y_label="fidelity (agreement with the model)",
    )
