"""Feature attributions: what a model relies on, globally and for single decisions.

* Global: scikit-learn's permutation importance (any target: the accuracy lost when one
  feature's column is shuffled), or, for differentiable PyTorch targets, the mean absolute
  integrated gradients (Captum).
* Local: integrated gradients (Captum) of the predicted class's probability for
  differentiable targets; for any other target that returns scores, Captum's feature ablation
  (each feature replaced by its baseline) of the predicted class's log-odds, which does not
  saturate on confident decisions the way the probability does (for a logistic regression
  it is exactly each feature's linear contribution).

The baseline of both local methods is the mean sample of the data they are given.
Inputs of any sample shape are attributed per input element; names come from
:func:`feature_names`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance

from aiarmor.targets.base import DifferentiableTarget, ScoreTarget

_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class GlobalImportance:
    """How much the model relies on each input feature over a sample."""

    method: str
    """``"permutation"`` or ``"integrated_gradients"``."""
    names: tuple[str, ...]
    """Feature names, index-aligned with the arrays."""
    mean: np.ndarray
    """Importance per feature (accuracy drop, or mean absolute attribution)."""
    std: np.ndarray
    """Its spread: std over permutation repeats, or the standard error of the mean."""


@dataclass(frozen=True, slots=True)
class LocalExplanation:
    """The attribution of one decision to the input features."""

    index: int
    """Row of the explained sample in the data."""
    predicted: int
    """The predicted class."""
    confidence: float
    """The predicted class's probability."""
    attributions: np.ndarray
    """Signed contribution of each feature to that probability, flat."""
    kind: str
    """``"most confident"`` or ``"least confident"``."""
    unit: str
    """What the attributions add up to: ``"probability"`` or ``"log-odds"``."""


class _TargetEstimator(BaseEstimator):  # type: ignore[misc]
    """A target seen by scikit-learn as a fitted classifier over flat rows (for inspection)."""

    def __init__(self, target: Any = None, sample_shape: tuple[int, ...] = ()) -> None:
        self.target = target
        self.sample_shape = sample_shape

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> _TargetEstimator:
        """Nothing to learn: the target is already trained."""
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The target's labels for flat rows."""
        rows = np.asarray(x, dtype=np.float32).reshape(-1, *self.sample_shape)
        return np.asarray(self.target.predict(rows))


def feature_names(sample_shape: Sequence[int], names: Sequence[str] | None) -> tuple[str, ...]:
    """The data's feature names, else ``x[i]`` (tables) or ``x[c,h,w]`` (other shapes)."""
    size = int(np.prod(sample_shape))
    if names is not None and len(names) == size:
        return tuple(str(n) for n in names)
    if len(sample_shape) == 1:
        return tuple(f"x[{i}]" for i in range(size))
    return tuple(f"x[{','.join(map(str, idx))}]" for idx in np.ndindex(*sample_shape))


def permutation_scores(
    target: Any,
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    *,
    n_repeats: int,
    seed: int,
) -> GlobalImportance:
    """Permutation importance of every feature for the target's accuracy (scikit-learn's)."""
    flat = x.reshape(len(x), -1)
    result = permutation_importance(
        _TargetEstimator(target, tuple(x.shape[1:])),
        flat,
        y,
        scoring="accuracy",
        n_repeats=n_repeats,
        random_state=seed,
    )
    return GlobalImportance(
        "permutation",
        tuple(names),
        np.asarray(result.importances_mean, dtype=np.float64),
        np.asarray(result.importances_std, dtype=np.float64),
    )


def _probability_of(target: Any) -> Any:
    """A torch forward function: the class probabilities of a differentiable target."""

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(target.logits(inputs), dim=1)

    return forward


def integrated_gradients(
    target: DifferentiableTarget,
    x: np.ndarray,
    classes: np.ndarray,
    baseline: np.ndarray,
    *,
    n_steps: int = 32,
) -> np.ndarray:
    """Integrated gradients of each row's ``classes`` probability, flat ``(n, features)``."""
    from captum.attr import IntegratedGradients

    method = IntegratedGradients(_probability_of(target))
    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    base = torch.from_numpy(np.ascontiguousarray(baseline, dtype=np.float32))[None]
    attr = method.attribute(
        inputs,
        baselines=base.expand_as(inputs),
        target=torch.from_numpy(classes.astype(np.int64)),
        n_steps=n_steps,
    )
    return np.asarray(attr.detach().cpu().numpy(), dtype=np.float64).reshape(len(x), -1)


def ablation(
    target: ScoreTarget, x: np.ndarray, classes: np.ndarray, baseline: np.ndarray
) -> np.ndarray:
    """Feature ablation (Captum) of each row's ``classes`` log-odds, flat ``(n, features)``.

    Works on any score target: features are replaced by the baseline one at a time and the
    model is queried through ``predict_proba``.
    """
    from captum.attr import FeatureAblation

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        proba = target.predict_proba(inputs.detach().cpu().numpy().astype(np.float32))
        p = np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0 - _EPS)
        return torch.from_numpy(np.log(p) - np.log1p(-p))

    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    base = torch.from_numpy(np.ascontiguousarray(baseline, dtype=np.float32))[None]
    attr = FeatureAblation(forward).attribute(
        inputs,
        baselines=base.expand_as(inputs),
        target=torch.from_numpy(classes.astype(np.int64)),
        perturbations_per_eval=16,
    )
    return np.asarray(attr.detach().cpu().numpy(), dtype=np.float64).reshape(len(x), -1)


def gradient_importance(
    target: DifferentiableTarget,
    x: np.ndarray,
    names: Sequence[str],
    baseline: np.ndarray,
    *,
    n_steps: int = 32,
    batch_size: int = 128,
) -> GlobalImportance:
    """Mean absolute integrated gradients of the predicted class over the rows of ``x``."""
    parts = []
    for i in range(0, len(x), batch_size):
        chunk = x[i : i + batch_size]
        predicted = np.asarray(target.predict(chunk), dtype=np.int64)
        parts.append(np.abs(integrated_gradients(target, chunk, predicted, baseline,
                                                 n_steps=n_steps)))  # fmt: skip
    attr = np.concatenate(parts)
    sem = attr.std(axis=0) / np.sqrt(max(len(attr), 1))
    return GlobalImportance("integrated_gradients", tuple(names), attr.mean(axis=0), sem)


def explain_extremes(
    target: ScoreTarget, x: np.ndarray, baseline: np.ndarray, *, n_each: int, n_steps: int = 32
) -> tuple[LocalExplanation, ...]:
    """Local explanations of the ``n_each`` most and least confident decisions on ``x``."""
    proba = np.asarray(target.predict_proba(x), dtype=np.float64)
    predicted = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    n = min(n_each, len(order) // 2)
    rows = np.concatenate([order[:n], order[len(order) - n :][::-1]])
    kinds = ["most confident"] * n + ["least confident"] * n
    if isinstance(target, DifferentiableTarget):
        unit = "probability"
        attr = integrated_gradients(target, x[rows], predicted[rows], baseline, n_steps=n_steps)
    else:
        unit = "log-odds"
        attr = ablation(target, x[rows], predicted[rows], baseline)
    return tuple(
        LocalExplanation(int(r), int(predicted[r]), float(confidence[r]), attr[j], kinds[j], unit)
        for j, r in enumerate(rows)
    )
