"""Membership-inference metrics as the literature reports them (Carlini et al., S&P 2022).

Average-case numbers (ROC AUC, balanced accuracy) hide the attack that matters: confidently
identifying *some* training records. So the true-positive rate at a very low false-positive
rate (0.1%, 1%) is reported too, each with a bootstrap confidence interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


@dataclass(frozen=True, slots=True)
class MembershipMetrics:
    """How well a score separates members (label 1) from non-members (label 0)."""

    auc: float
    """ROC AUC (0.5: no leakage)."""
    balanced_accuracy: float
    """Best balanced accuracy over all thresholds."""
    tpr_at_1pct_fpr: float
    """Largest TPR at FPR <= 1%."""
    tpr_at_01pct_fpr: float
    """Largest TPR at FPR <= 0.1%."""
    auc_ci: tuple[float, float]
    """95% bootstrap interval of the AUC."""
    tpr_at_1pct_fpr_ci: tuple[float, float]
    """95% bootstrap interval of TPR at 1% FPR."""
    fpr: np.ndarray
    """ROC false-positive rates (for the chart)."""
    tpr: np.ndarray
    """ROC true-positive rates (for the chart)."""


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """The largest true-positive rate among thresholds with FPR <= ``max_fpr``.

    Every threshold counts (``drop_intermediate=False``): with tied scores, scikit-learn's
    thinning of collinear ROC points can drop the best point under ``max_fpr``.
    """
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    ok = fpr <= max_fpr
    return float(tpr[ok].max()) if ok.any() else 0.0


def best_balanced_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Max over thresholds of (TPR + TNR) / 2."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(((tpr + 1.0 - fpr) / 2.0).max())


def membership_metrics(
    labels: np.ndarray, scores: np.ndarray, *, rng: np.random.Generator, n_boot: int = 200
) -> MembershipMetrics:
    """All metrics for one attack's scores, with bootstrap CIs drawn from ``rng``."""
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if set(np.unique(labels)) != {0, 1}:
        raise ValueError("membership labels need both members (1) and non-members (0)")
    fpr, tpr, _ = roc_curve(labels, scores)
    aucs, tprs = _bootstrap(labels, scores, rng, n_boot)
    return MembershipMetrics(
        auc=float(roc_auc_score(labels, scores)),
        balanced_accuracy=best_balanced_accuracy(labels, scores),
        tpr_at_1pct_fpr=tpr_at_fpr(labels, scores, 0.01),
        tpr_at_01pct_fpr=tpr_at_fpr(labels, scores, 0.001),
        auc_ci=_interval(aucs),
        tpr_at_1pct_fpr_ci=_interval(tprs),
        fpr=fpr,
        tpr=tpr,
    )


def _bootstrap(
    labels: np.ndarray, scores: np.ndarray, rng: np.random.Generator, n_boot: int
) -> tuple[np.ndarray, np.ndarray]:
    """AUC and TPR@1%FPR over stratified bootstrap resamples (members and non-members apart).

    Computed from sorted scores (Mann-Whitney AUC with ties counted half, and the TPR above
    the largest non-member score a 1% FPR may exceed), the same numbers as scikit-learn's
    ``roc_auc_score`` and :func:`tpr_at_fpr`, without their per-call overhead.
    """
    pos, neg = scores[labels == 1], scores[labels == 0]
    aucs, tprs = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        p = np.sort(pos[rng.integers(0, len(pos), len(pos))])
        n = np.sort(neg[rng.integers(0, len(neg), len(neg))])
        aucs[b], tprs[b] = auc_sorted(p, n), tpr_sorted(p, n, 0.01)
    return aucs, tprs


def auc_sorted(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of sorted member and non-member scores (ties count one half)."""
    below = np.searchsorted(neg, pos, side="left")
    upto = np.searchsorted(neg, pos, side="right")
    return float((below.sum() + 0.5 * (upto - below).sum()) / (len(pos) * len(neg)))


def tpr_sorted(pos: np.ndarray, neg: np.ndarray, max_fpr: float) -> float:
    """:func:`tpr_at_fpr` from sorted scores: members above the score that ``max_fpr`` of the
    non-members may reach or exceed."""
    allowed = int(np.floor(max_fpr * len(neg) + 1e-9))
    if allowed >= len(neg):
        return 1.0
    cut = neg[len(neg) - 1 - allowed]  # the (allowed + 1)-th largest non-member score
    return float((len(pos) - np.searchsorted(pos, cut, side="right")) / len(pos))


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
