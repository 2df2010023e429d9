"""The ``baseline.performance`` check: accuracy, per-class recall and calibration."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score

from aiarmor.baseline.calibration import (
    DEFAULT_BINS,
    ReliabilityBins,
    negative_log_likelihood,
    reliability_bins,
)
from aiarmor.core.capability import Capability
from aiarmor.core.errors import CheckError
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Check, CheckContext, Param, register
from aiarmor.targets.base import ScoreTarget

_SUM_TOLERANCE = 1e-3
"""How far a row of probabilities may sum from 1 before the output is rejected."""
_CHANCE_MIN_MARGIN = 0.02
"""Smallest margin above 1/k under which balanced accuracy counts as chance level."""

_NAN = float("nan")


@register
class PerformanceCheck(Check):
    """Baseline performance and calibration of the model on held-out data.

    What it detects:
        Accuracy below the policy's minimum, classes the model rarely recognises (recall below
        the minimum), poor calibration (expected calibration error above the maximum; the
        finding says whether the model is over- or under-confident), and a model that is no
        better than chance.

    Why it matters:
        Every other check is measured relative to this baseline: a robustness or privacy
        number means little for a model that does not work. A neglected class is a blind spot
        an attacker can aim for. An overconfident model leaks more about its training data to
        membership inference (its confidence separates members from non-members) and misleads
        every downstream decision that thresholds its scores.

    How:
        The target is queried once per sample in batches of ``batch_size``. Score targets
        (``predict_proba``) give labels by arg-max plus calibration: top-label ECE and MCE
        over 15 equal-width bins, and mean negative log-likelihood with probabilities clipped
        to machine epsilon. Label-only targets still get accuracy, balanced accuracy, macro F1
        and per-class recall; ``ece``, ``mce`` and ``nll`` are then reported as NaN (null in
        the report) with an info finding, so a policy threshold on them fails closed rather
        than passing silently. Accuracy, balanced accuracy, macro F1 and recall are
        scikit-learn's. ``recall.class_<k>`` is NaN for a class absent from the data;
        ``min_class_recall`` is the minimum over the classes present.

        The chance-level finding compares *balanced* accuracy with 1/k (k = classes present),
        so a majority-class predictor on imbalanced data is caught too; the margin is the
        larger of 0.02 and two binomial standard errors of the chance rate.

    Parameters:
        ``min_accuracy`` (0 = off): accuracy strictly below it is a high finding.
        ``min_class_recall`` (0 = off): each class whose recall is strictly below it is listed
        in one medium finding. ``max_ece`` (0.15; 1 = off): an ECE above it is a low finding.
        ``batch_size``: samples per query.

    Standards:
        NIST AI RMF MEASURE 2.5 (the system is valid and reliable) and MEASURE 2.3
        (performance measured for deployment-like conditions); an overconfidence finding also
        cites OWASP ML04 (membership inference).

    References:
        C. Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.
        R. Shokri et al., "Membership Inference Attacks against Machine Learning Models",
        IEEE S&P 2017. NIST AI 100-1, Artificial Intelligence Risk Management Framework 1.0.
    """

    id = "baseline.performance"
    requires = (Capability.LABELS,)
    title = "Baseline performance and calibration"
    summary = (
        "Measures accuracy, per-class recall and calibration on held-out data and flags "
        "weak classes, poor calibration and chance-level models."
    )
    standards = ("NIST-AI-RMF:MEASURE-2.5", "NIST-AI-RMF:MEASURE-2.3")
    params = (
        Param(
            "min_accuracy",
            float,
            0.0,
            "Minimum accuracy; below it, a high finding (0: off).",
            min=0.0,
            max=1.0,
        ),
        Param(
            "min_class_recall",
            float,
            0.0,
            "Minimum recall of every class; below it, a medium finding (0: off).",
            min=0.0,
            max=1.0,
        ),
        Param(
            "max_ece",
            float,
            0.15,
            "Maximum expected calibration error; above it, a low finding.",
            min=0.0,
            max=1.0,
        ),
        Param("batch_size", int, 256, "Samples per query to the target.", min=1),
    )
    metrics = (
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "ece",
        "mce",
        "nll",
        "n_samples",
        "recall.*",
        "min_class_recall",
    )

    def applicable(self, ctx: CheckContext) -> str | None:
        """Needs evaluation data (label queries are a declared requirement)."""
        if ctx.data is None or len(ctx.data) == 0:
            return "no evaluation data"
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Query the target on the evaluation data and score its answers."""
        target, y = ctx.target, np.asarray(ctx.data.y)
        k = int(target.n_classes)
        if int(y.max()) >= k:
            raise CheckError(f"the data has label {int(y.max())} but the model has {k} classes")
        proba, pred = _predict(target, ctx.data.x, k, ctx)
        metrics = _label_metrics(y, pred, k)
        bins = None if proba is None else reliability_bins(proba, y, DEFAULT_BINS)
        metrics |= _score_metrics(proba, y, bins)
        names = _class_names(ctx.data.classes, k)
        findings = self._findings(metrics, bins, y, names, ctx.params)
        return CheckOutcome(
            metrics=metrics, findings=findings, charts=_charts(metrics, bins, names)
        )

    def _findings(
        self,
        metrics: Mapping[str, float],
        bins: ReliabilityBins | None,
        y: np.ndarray,
        names: tuple[str, ...],
        params: Mapping[str, Any],
    ) -> tuple[Finding, ...]:
        found = [
            self._accuracy_finding(metrics, params["min_accuracy"]),
            self._recall_finding(metrics, y, names, params["min_class_recall"]),
            self._calibration_finding(bins, params["max_ece"]),
            self._chance_finding(metrics, y),
            self._label_only_note(bins),
        ]
        return tuple(f for f in found if f is not None)

    def _accuracy_finding(self, metrics: Mapping[str, float], minimum: float) -> Finding | None:
        accuracy = metrics["accuracy"]
        if accuracy >= minimum:
            return None
        return self.finding(
            Severity.HIGH,
            f"Accuracy {accuracy:.3f} is below the required {minimum:.3f}",
            f"On {int(metrics['n_samples'])} held-out samples the model is correct "
            f"{accuracy:.1%} of the time, below the policy minimum of {minimum:.1%}. A model "
            "that does not meet its accuracy bar is not fit for release, and the other "
            "checks' results are measured against a weak baseline.",
            "Retrain or tune the model (more or cleaner data, capacity, regularisation), check "
            "that the evaluation data matches the deployment distribution and preprocessing, "
            "or revise min_accuracy in the policy if the bar is wrong.",
            evidence={
                "accuracy": accuracy,
                "min_accuracy": minimum,
                "n_samples": metrics["n_samples"],
            },
        )

    def _recall_finding(
        self, metrics: Mapping[str, float], y: np.ndarray, names: tuple[str, ...], minimum: float
    ) -> Finding | None:
        support = np.bincount(y, minlength=len(names))
        weak = [
            {"class": c, "name": names[c], "recall": r, "support": int(support[c])}
            for c in range(len(names))
            if not math.isnan(r := metrics[f"recall.class_{c}"]) and r < minimum
        ]
        if not weak:
            return None
        listed = ", ".join(f"{w['name']} ({w['recall']:.2f})" for w in weak)
        return self.finding(
            Severity.MEDIUM,
            f"{len(weak)} class(es) have recall below {minimum:.2f}",
            f"The model recognises these classes less often than the policy minimum recall of "
            f"{minimum:.2f}: {listed}. A class the model rarely gets right is a blind spot: "
            "inputs of that class are misrouted, and an attacker can aim for it.",
            "Collect or up-weight data for the weak classes, check their labels for errors, "
            "or rebalance the training objective (class weights, resampling).",
            evidence={"min_class_recall": minimum, "classes": weak},
        )

    def _calibration_finding(self, bins: ReliabilityBins | None, maximum: float) -> Finding | None:
        if bins is None or not bins.ece > maximum:
            return None
        gap = bins.confidence_gap
        over = gap > 0
        direction = "overconfident" if over else "underconfident"
        detail = (
            f"The expected calibration error is {bins.ece:.3f} (maximum {maximum:.3f}); the "
            f"model is {direction}: its mean top-label confidence is {abs(gap):.1%} "
            f"{'above' if over else 'below'} its accuracy. "
        )
        detail += (
            "Overconfident models leak more membership information (training samples get "
            "visibly higher confidence) and mislead decisions that threshold the scores."
            if over
            else "Underconfident scores mislead decisions that threshold them (valid inputs "
            "rejected, abstention rules miscalibrated)."
        )
        refs = (
            ("NIST-AI-RMF:MEASURE-2.5", "OWASP-ML:ML04") if over else ("NIST-AI-RMF:MEASURE-2.5",)
        )
        return self.finding(
            Severity.LOW,
            f"Model is poorly calibrated ({direction}, ECE {bins.ece:.3f})",
            detail,
            "Recalibrate on held-out data (temperature scaling, or isotonic regression for "
            "scikit-learn models via CalibratedClassifierCV), add label smoothing or "
            "regularisation in training, and release only calibrated scores (or labels).",
            evidence={
                "ece": bins.ece,
                "mce": bins.mce,
                "max_ece": maximum,
                "mean_confidence_minus_accuracy": gap,
                "direction": direction,
                "n_bins": len(bins.count),
            },
            standards=refs,
        )

    def _chance_finding(self, metrics: Mapping[str, float], y: np.ndarray) -> Finding | None:
        n, present = len(y), len(np.unique(y))
        if present < 2:
            return None
        chance = 1.0 / present
        margin = max(_CHANCE_MIN_MARGIN, 2.0 * math.sqrt(chance * (1.0 - chance) / n))
        balanced = metrics["balanced_accuracy"]
        if balanced > chance + margin:
            return None
        return self.finding(
            Severity.INFO,
            "Model performs at chance level",
            f"Balanced accuracy is {balanced:.3f}, within {margin:.3f} of the chance level "
            f"{chance:.3f} for {present} classes (plain accuracy {metrics['accuracy']:.3f}). "
            "The model has not learned the task, or the evaluation data or its preprocessing "
            "does not match the model; the other checks' results are not meaningful.",
            "Check that the data, its labels and its input range (--bounds) match what the "
            "model was trained on, then retrain if needed.",
            evidence={
                "balanced_accuracy": balanced,
                "accuracy": metrics["accuracy"],
                "chance_level": chance,
                "margin": margin,
                "n_classes_present": present,
            },
        )

    def _label_only_note(self, bins: ReliabilityBins | None) -> Finding | None:
        if bins is not None:
            return None
        return self.finding(
            Severity.INFO,
            "Calibration not measured: the target returns labels only",
            "The target does not return class probabilities, so ECE, MCE and NLL are reported "
            "as null. Accuracy and per-class recall were measured from its labels.",
            "Give aiarmor a target that exposes probabilities (predict_proba) to measure "
            "calibration.",
        )


def _label_metrics(y: np.ndarray, pred: np.ndarray, k: int) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro F1 and per-class recall (scikit-learn's)."""
    present = np.unique(y)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = float(balanced_accuracy_score(y, pred))
    recall = recall_score(y, pred, labels=present, average=None, zero_division=0.0)
    per_class = dict.fromkeys(range(k), _NAN) | dict(zip(present.tolist(), recall, strict=True))
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": balanced,
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0.0)),
        "n_samples": float(len(y)),
        **{f"recall.class_{c}": float(r) for c, r in per_class.items()},
        "min_class_recall": float(np.min(recall)),
    }


def _score_metrics(
    proba: np.ndarray | None, y: np.ndarray, bins: ReliabilityBins | None
) -> dict[str, float]:
    if proba is None or bins is None:
        return {"ece": _NAN, "mce": _NAN, "nll": _NAN}
    return {"ece": bins.ece, "mce": bins.mce, "nll": negative_log_likelihood(proba, y)}


def _predict(
    target: Any, x: np.ndarray, k: int, ctx: CheckContext
) -> tuple[np.ndarray | None, np.ndarray]:
    """Probabilities (None for a label-only target) and labels, queried in batches."""
    size, n = int(ctx.params["batch_size"]), len(x)
    scores = isinstance(target, ScoreTarget)
    parts = []
    for start in range(0, n, size):
        batch = x[start : start + size]
        out = target.predict_proba(batch) if scores else target.predict(batch)
        parts.append(_validated(out, len(batch), k, scores))
        ctx.report(min(start + size, n), n, "querying the model")
    joined = np.concatenate(parts)
    if scores:
        return joined, joined.argmax(axis=1)
    return None, joined


def _validated(out: Any, n: int, k: int, scores: bool) -> np.ndarray:
    """The target's answer as an array, or CheckError when it is not a valid answer."""
    arr = np.asarray(out)
    expected = (n, k) if scores else (n,)
    if arr.shape != expected:
        raise CheckError(f"the target answered shape {arr.shape}, expected {expected}")
    if arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
        raise CheckError("the target returned non-numeric or non-finite answers on valid data")
    if not scores:
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if (arr < 0).any() or not np.allclose(arr.sum(axis=1), 1.0, atol=_SUM_TOLERANCE):
        raise CheckError("predict_proba did not return probabilities (rows must sum to 1)")
    return arr


def _class_names(classes: tuple[str, ...] | None, k: int) -> tuple[str, ...]:
    if classes is not None and len(classes) == k:
        return tuple(str(c) for c in classes)
    return tuple(f"class {c}" for c in range(k))


def _charts(
    metrics: Mapping[str, float], bins: ReliabilityBins | None, names: tuple[str, ...]
) -> tuple[Chart, ...]:
    present = [c for c in range(len(names)) if not math.isnan(metrics[f"recall.class_{c}"])]
    recall = Chart(
        id="class_recall",
        title="Recall per class",
        kind="bar",
        series=(
            Series(
                name="recall",
                x=tuple(names[c] for c in present),
                y=tuple(metrics[f"recall.class_{c}"] for c in present),
            ),
        ),
        x_label="class",
        y_label="recall",
    )
    if bins is None:
        return (recall,)
    reliability = Chart(
        id="reliability",
        title="Reliability diagram (top-label, 15 bins)",
        kind="reliability",
        series=(
            Series(
                name="model",
                x=tuple(float(v) for v in bins.mean_confidence),
                y=tuple(float(v) for v in bins.accuracy),
            ),
        ),
        x_label="confidence",
        y_label="accuracy",
    )
    return (reliability, recall)
