"""A fitted scikit-learn classifier as a target."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aiarmor.core.errors import ModelLoadError
from aiarmor.targets._common import check_bounds, check_scores


class SklearnLabelTarget:
    """A fitted scikit-learn classifier without ``predict_proba``: label-only access.

    Inputs are flattened to ``(n, features)`` and passed as they are. Labels are positions in
    ``estimator.classes_`` (sorted, as scikit-learn stores them), so an estimator trained on
    labels ``0..k-1`` predicts exactly those; one trained on other labels (strings, -1/1)
    predicts their sorted index, the same encoding :func:`aiarmor.data.load_dataset` uses.
    The original labels are kept in :attr:`classes`.
    """

    def __init__(
        self, estimator: Any, *, bounds: Sequence[float] | None = None, name: str | None = None
    ) -> None:
        classes = getattr(estimator, "classes_", None)
        if classes is None or not hasattr(estimator, "predict"):
            raise ModelLoadError(
                f"{type(estimator).__name__} is not a fitted scikit-learn classifier "
                "(it has no predict() or classes_)"
            )
        self.estimator = estimator
        self._classes = np.asarray(classes)
        self.classes = tuple(self._classes.tolist())
        """The estimator's original class labels, index-aligned with ``0..k-1``."""
        self.n_classes = len(self.classes)
        self.bounds = check_bounds(bounds)
        self.name = name or type(estimator).__name__
        self.queries = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n_classes={self.n_classes})"

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The estimator's predicted labels as int64 indices into ``classes_``."""
        flat = _flatten(x)
        self.queries += flat.shape[0]
        raw = np.asarray(self.estimator.predict(flat))
        return self._to_index(raw)

    def _to_index(self, raw: np.ndarray) -> np.ndarray:
        """Class labels as positions in the sorted ``classes_``."""
        if raw.shape != (raw.shape[0],):
            raise ValueError(f"{self.name}.predict returned shape {raw.shape}; expected (n,)")
        index = np.searchsorted(self._classes, raw)
        inside = index < self.n_classes
        if not inside.all() or not (self._classes[index] == raw).all():
            raise ValueError(f"{self.name}.predict returned labels not in classes_")
        return index.astype(np.int64)


class SklearnTarget(SklearnLabelTarget):
    """A fitted scikit-learn classifier with ``predict_proba``: a score target.

    Column ``i`` of :meth:`predict_proba` is the probability of ``classes_[i]``; see
    :class:`SklearnLabelTarget` for the label convention. :meth:`predict` is the estimator's
    own ``predict`` (the model's real decision rule), mapped to indices.
    """

    def __init__(
        self, estimator: Any, *, bounds: Sequence[float] | None = None, name: str | None = None
    ) -> None:
        if not hasattr(estimator, "predict_proba"):
            raise ModelLoadError(
                f"{type(estimator).__name__} has no predict_proba(); "
                "use sklearn_target() to get a label-only target"
            )
        super().__init__(estimator, bounds=bounds, name=name)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, float64, shape ``(n, n_classes)``."""
        flat = _flatten(x)
        self.queries += flat.shape[0]
        scores = np.asarray(self.estimator.predict_proba(flat), dtype=np.float64)
        return check_scores(scores, flat.shape[0], self.n_classes, f"{self.name}.predict_proba")


def sklearn_target(
    estimator: Any, *, bounds: Sequence[float] | None = None, name: str | None = None
) -> SklearnLabelTarget:
    """The richest target for ``estimator``: SklearnTarget if it has ``predict_proba``."""
    if hasattr(estimator, "predict_proba"):
        return SklearnTarget(estimator, bounds=bounds, name=name)
    return SklearnLabelTarget(estimator, bounds=bounds, name=name)


def _flatten(x: np.ndarray) -> np.ndarray:
    """Samples as rows of a 2-D array (images flattened)."""
    array = np.asarray(x)
    return array.reshape(array.shape[0], -1) if array.ndim != 2 else array
