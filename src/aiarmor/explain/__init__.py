"""Explainability: what a model relies on, globally and for single decisions.

:mod:`aiarmor.explain.attribution` holds the methods (scikit-learn permutation importance,
Captum integrated gradients and feature ablation); :mod:`aiarmor.explain.importance` is the
``explain.importance`` check built on them.
"""

from aiarmor.explain.attribution import (
    GlobalImportance,
    LocalExplanation,
    explain_extremes,
    feature_names,
    gradient_importance,
    permutation_scores,
)

__all__ = [
    "GlobalImportance",
    "LocalExplanation",
    "explain_extremes",
    "feature_names",
    "gradient_importance",
    "permutation_scores",
]
