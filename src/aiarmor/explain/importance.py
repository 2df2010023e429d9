"""The ``explain.importance`` check: what does the model rely on?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aiarmor.core.capability import Capability
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.explain.attribution import (
    GlobalImportance,
    LocalExplanation,
    explain_extremes,
    feature_names,
    gradient_importance,
    permutation_scores,
)
from aiarmor.targets.base import DifferentiableTarget, ScoreTarget

_SAMPLES = {Budget.QUICK: 500, Budget.STANDARD: 2000, Budget.THOROUGH: 5000}
"""Held-out samples the global importance is measured on, per budget."""
_REPEATS = {Budget.QUICK: 2, Budget.STANDARD: 5, Budget.THOROUGH: 10}
"""Permutation repeats per feature, per budget."""
_LOCAL_BARS = 8
"""Features shown per local explanation."""


def sample_rows(n_rows: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices: all rows, or ``limit`` drawn without replacement."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(rng.choice(n_rows, limit, replace=False))


def global_importance(
    target: Any,
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    baseline: np.ndarray,
    *,
    n_repeats: int,
    seed: int,
    n_steps: int,
) -> GlobalImportance:
    """Integrated gradients for a differentiable target, else permutation importance."""
    if isinstance(target, DifferentiableTarget):
        return gradient_importance(target, x, names, baseline, n_steps=n_steps)
    return permutation_scores(target, x, y, names, n_repeats=n_repeats, seed=seed)


def top_share(importance: GlobalImportance) -> float:
    """The share of the total (positive) importance that the top feature carries."""
    positive = np.clip(importance.mean, 0.0, None)
    total = float(positive.sum())
    return float(positive.max() / total) if total > 0 else float("nan")


@register
class ImportanceCheck(Check):
    """Explainability: global feature importance and local explanations of extreme decisions.

    What it detects:
        Which input features the model's decisions rely on over held-out data, and why it
        made its most and least confident decisions. Global importance is scikit-learn's
        permutation importance (accuracy lost when a feature is shuffled; any target) or,
        for differentiable PyTorch targets, mean absolute integrated gradients (Captum).
        Local explanations attribute a decision to the features: integrated gradients of its
        probability, or, for score-only targets, Captum's feature ablation of its log-odds;
        the baseline is the mean sample. A model that leans on one feature is a finding.

    Why it matters:
        Auditors need to see what drives decisions; reliance on a single feature is brittle
        (whoever controls that input controls the decision, and a shift in it breaks the
        model) and often a sign of shortcut learning or label leakage. The explanations
        also feed the proxy-discrimination check (``fairness.proxy``). Attributions describe
        the model, not the world: they are not causal claims.

    Standards: NIST AI RMF MEASURE (MEASURE 2.9: the model is explained and its output
    interpreted) and MEASURE 2.5 (validity and reliability) for single-feature reliance.

    References: Breiman, "Random Forests", Machine Learning 45 (2001) (permutation
    importance); Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML
    2017 (integrated gradients); Kokhlikyan et al., "Captum: A unified and generic model
    interpretability library for PyTorch", arXiv:2009.07896 (2020).
    """

    id = "explain.importance"
    requires = (Capability.LABELS,)
    title = "Feature importance and explanations"
    summary = "Which features drive the model's decisions, globally and for single decisions."
    standards = ("NIST-AI-RMF:MEASURE", "NIST-AI-RMF:MEASURE-2.5")
    params = (
        Param("top_k", int, 10, "Features reported as metrics and charted.", min=1),
        Param("n_local", int, 2, "Most and least confident decisions explained (each).", min=0),
        Param("max_top_share", float, 0.5,
              "Share of all importance on one feature above which it is a finding.",
              min=0.0, max=1.0, min_exclusive=True),
        Param("ig_steps", int, 32, "Integration steps of integrated gradients.", min=2),
    )  # fmt: skip
    metrics = ("importance.*", "top_feature_share", "n_features", "n_samples", "n_explained")

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Global importance on a held-out sample, then local explanations of its extremes."""
        p, data, rng = ctx.params, ctx.data, ctx.rng()
        sample = data.subset(sample_rows(len(data), _SAMPLES[ctx.budget], rng))
        reference = ctx.train if ctx.train is not None else sample
        baseline = reference.x.mean(axis=0)
        names = feature_names(data.sample_shape, data.feature_names)
        ctx.report(0, 2, "global importance")
        imp = global_importance(
            ctx.target, sample.x, sample.y, names, baseline, n_repeats=_REPEATS[ctx.budget],
            seed=int(rng.integers(2**31)), n_steps=int(p["ig_steps"]),
        )  # fmt: skip
        ctx.report(1, 2, "local explanations")
        local: tuple[LocalExplanation, ...] = ()
        if isinstance(ctx.target, ScoreTarget) and int(p["n_local"]) > 0:
            local = explain_extremes(ctx.target, sample.x, baseline, n_each=int(p["n_local"]),
                                     n_steps=int(p["ig_steps"]))  # fmt: skip
        metrics = self._metrics(imp, int(p["top_k"]), len(sample), len(local))
        findings = self._findings(imp, local, sample.x, p, data.classes)
        charts = _charts(imp, local, sample.x, int(p["top_k"]), data.sample_shape, data.classes)
        return CheckOutcome(metrics, tuple(findings), charts)

    def _metrics(
        self, imp: GlobalImportance, top_k: int, n_samples: int, n_local: int
    ) -> dict[str, float]:
        out = {f"importance.{imp.names[i]}": float(imp.mean[i]) for i in _top(imp, top_k)}
        out |= {
            "top_feature_share": top_share(imp),
            "n_features": float(len(imp.names)),
            "n_samples": float(n_samples),
            "n_explained": float(n_local),
        }
        return out

    def _findings(
        self,
        imp: GlobalImportance,
        local: tuple[LocalExplanation, ...],
        x: np.ndarray,
        p: Mapping[str, Any],
        classes: tuple[str, ...] | None,
    ) -> list[Finding]:
        top = _top(imp, int(p["top_k"]))
        out = [self._summary(imp, top, local, x, classes)]
        share = top_share(imp)
        if np.isfinite(share) and share > float(p["max_top_share"]):
            name = imp.names[top[0]]
            out.append(self.finding(
                Severity.LOW,
                f"Decisions hinge on a single feature ({name}: {share:.0%} of the importance)",
                f"{name} carries {share:.0%} of the model's total {imp.method} importance "
                f"(the policy allows {float(p['max_top_share']):.0%}). Whoever controls this "
                "input controls the decision, and a shift in it breaks the model; such "
                "reliance is also a common sign of shortcut learning or label leakage.",
                "Check that the feature is legitimately available at decision time and not a "
                "leak of the label; regularize, add data, or constrain the model so the "
                "decision does not rest on one input, and validate that input at the gateway.",
                evidence={"feature": name, "share": share, "method": imp.method},
                standards=("NIST-AI-RMF:MEASURE-2.5",),
            ))  # fmt: skip
        return out

    def _summary(
        self,
        imp: GlobalImportance,
        top: np.ndarray,
        local: tuple[LocalExplanation, ...],
        x: np.ndarray,
        classes: tuple[str, ...] | None,
    ) -> Finding:
        ranked = ", ".join(f"{imp.names[i]} ({imp.mean[i]:.3g})" for i in top[:5])
        return self.finding(
            Severity.INFO,
            f"The model relies most on {imp.names[top[0]]}",
            f"Top features by {imp.method.replace('_', ' ')} importance: {ranked}. "
            f"{len(local)} decisions are explained locally in the charts.",
            "Review that the features the model relies on are legitimate for the decision; "
            "see fairness.proxy for features that stand in for a sensitive attribute.",
            evidence={
                "method": imp.method,
                "top_features": {imp.names[i]: float(imp.mean[i]) for i in top},
                "local_explanations": [_local_evidence(e, imp.names, x, classes) for e in local],
            },
            standards=("NIST-AI-RMF:MEASURE",),
        )


def _top(imp: GlobalImportance, k: int) -> np.ndarray:
    """Indices of the ``k`` most important features, most important first."""
    return np.argsort(-imp.mean, kind="stable")[:k]


def _class_name(index: int, classes: tuple[str, ...] | None) -> str:
    return classes[index] if classes is not None and index < len(classes) else str(index)


def _local_evidence(
    e: LocalExplanation, names: Sequence[str], x: np.ndarray, classes: tuple[str, ...] | None
) -> dict[str, Any]:
    order = _strongest(e)
    return {
        "kind": e.kind,
        "unit": e.unit,
        "row": e.index,
        "predicted": _class_name(e.predicted, classes),
        "confidence": e.confidence,
        "contributions": {names[i]: float(e.attributions[i]) for i in order},
    }


def _charts(
    imp: GlobalImportance,
    local: tuple[LocalExplanation, ...],
    x: np.ndarray,
    top_k: int,
    sample_shape: tuple[int, ...],
    classes: tuple[str, ...] | None,
) -> tuple[Chart, ...]:
    top = _top(imp, top_k)
    charts = [
        Chart(
            id="global",
            title=f"Global importance ({imp.method.replace('_', ' ')})",
            kind="bar",
            series=(Series("importance", tuple(imp.names[i] for i in top),
                           tuple(float(imp.mean[i]) for i in top),
                           tuple(float(imp.std[i]) for i in top)),),
            x_label="feature",
            y_label="accuracy drop" if imp.method == "permutation" else "mean |attribution|",
        )
    ]  # fmt: skip
    if len(sample_shape) >= 2:
        charts.append(_heatmap(imp.mean.reshape(sample_shape)))
    flat = x.reshape(len(x), -1)
    charts += [_local_chart(j, e, imp.names, flat[e.index], classes) for j, e in enumerate(local)]
    return tuple(charts)


def _heatmap(values: np.ndarray) -> Chart:
    """Global importance over an image's pixels (channels summed)."""
    grid = values.reshape(-1, *values.shape[-2:]).sum(axis=0)
    series = tuple(
        Series(f"row {r}", tuple(float(c) for c in range(grid.shape[1])),
               tuple(float(v) for v in grid[r]))
        for r in range(grid.shape[0])
    )  # fmt: skip
    return Chart(id="global-map", title="Global importance by pixel", kind="heatmap",
                 series=series)  # fmt: skip


def _local_chart(
    j: int, e: LocalExplanation, names: Sequence[str], row: np.ndarray, classes: Any
) -> Chart:
    """The features that moved one decision most, signed (positive: towards the decision)."""
    order = _strongest(e)
    labels = tuple(f"{names[i]} ({row[i]:.3g})" for i in order)
    label = _class_name(e.predicted, classes)
    return Chart(
        id=f"local-{j}",
        title=f"{e.kind.capitalize()} decision: row {e.index}, {label} (p={e.confidence:.2f})",
        kind="bar",
        series=(Series("contribution", labels, tuple(float(e.attributions[i]) for i in order)),),
        x_label="feature (value)",
        y_label=f"contribution to {'p' if e.unit == 'probability' else 'log-odds'}({label})",
    )


def _strongest(e: LocalExplanation) -> np.ndarray:
    """The features with the largest non-zero attributions, strongest first."""
    order = np.argsort(-np.abs(e.attributions), kind="stable")[:_LOCAL_BARS]
    strongest: np.ndarray = order[e.attributions[order] != 0]
    return strongest
