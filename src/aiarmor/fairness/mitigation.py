"""Bias mitigation with Fairlearn, as a portable, deterministic scikit-learn estimator.

:class:`FairnessMitigator` fits one of Fairlearn's mitigations on a binary classifier:

* ``method="threshold"`` - :class:`fairlearn.postprocessing.ThresholdOptimizer`
  (post-processing; Hardt et al. 2016): group-specific, randomized thresholds on the trained
  model's scores. The decision uses the sensitive attribute, so the mitigated model takes the
  group codes as extra trailing input columns (:meth:`FairnessMitigator.with_groups`).
* ``method="reductions"`` - :class:`fairlearn.reductions.ExponentiatedGradient`
  (Agarwal et al. 2018): retrains the estimator under the constraint and returns a
  randomized mixture of the models it trained. The sensitive attribute is needed only to fit.

Constraints: ``demographic_parity``, ``equalized_odds``, ``equal_opportunity``.

The solution Fairlearn finds is kept as plain arrays and fitted scikit-learn estimators (the
per-group thresholds and mixing probabilities, or the mixture's models and weights), so the
mitigated model saves with skops without pandas or Fairlearn objects, and loads without
Fairlearn. Both mitigations are randomized classifiers; here the coin is derived from a hash
of the input row and ``random_state``, so the same input always gets the same decision (no
re-query gaming) while decisions follow Fairlearn's probabilities (the tests check that
:meth:`FairnessMitigator.pmf_predict` equals Fairlearn's). The model deliberately has no
``predict_proba``: it is a randomized decision rule, not a scorer, and thresholding its
mixing probabilities at 0.5 - what a consumer of ``predict_proba`` would do - silently
undoes the mitigation. So aiarmor audits it as a label-only target.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

from aiarmor.core.errors import ConfigError
from aiarmor.data.dataset import Dataset

METHODS = ("threshold", "reductions")
"""Mitigation methods."""

CONSTRAINTS = ("demographic_parity", "equalized_odds", "equal_opportunity")
"""Fairness constraints."""

CONSTRAINT_METRIC = {
    "demographic_parity": "demographic_parity_difference",
    "equalized_odds": "equalized_odds_difference",
    "equal_opportunity": "equal_opportunity_difference",
}
"""The ``fairness.group_metrics`` disparity each constraint reduces."""

GROUP_PREFIX = "group:"
"""Feature-name prefix of the group-code columns :meth:`FairnessMitigator.with_groups` adds."""

_THRESHOLD_CONSTRAINT = {
    "demographic_parity": "demographic_parity",
    "equalized_odds": "equalized_odds",
    "equal_opportunity": "true_positive_rate_parity",
}


class FairnessMitigator(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A binary classifier mitigated with Fairlearn under a fairness constraint.

    Parameters: ``estimator`` (a scikit-learn binary classifier; fitted for
    ``method="threshold"`` with ``prefit=True``; for reductions its ``fit`` must accept
    ``sample_weight``, a Pipeline's last step included), ``method``, ``constraint``,
    ``prefit`` (threshold: use the fitted estimator as it is), ``eps`` (reductions: the
    allowed constraint violation), ``max_iter`` (reductions), ``grid_size`` (threshold) and
    ``random_state`` (the derandomization key).

    Fitted attributes: ``classes_``, ``n_features_in_`` (features without group columns),
    ``sensitive_names_``, ``group_values_`` (per attribute, the group names in code order),
    ``uses_groups_`` (whether :meth:`predict` needs the group columns), and either
    ``estimator_``, ``group_codes_`` and ``interpolation_`` (threshold) or ``predictors_`` and
    ``weights_`` (reductions).
    """

    def __init__(
        self,
        estimator: Any = None,
        *,
        method: str = "threshold",
        constraint: str = "demographic_parity",
        prefit: bool = True,
        eps: float = 0.01,
        max_iter: int = 50,
        grid_size: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.estimator = estimator
        self.method = method
        self.constraint = constraint
        self.prefit = prefit
        self.eps = eps
        self.max_iter = max_iter
        self.grid_size = grid_size
        self.random_state = random_state

    def fit(
        self, X: np.ndarray, y: np.ndarray, *, sensitive_features: Mapping[str, np.ndarray]
    ) -> FairnessMitigator:
        """Fit the mitigation on features ``X`` (no group columns), labels 0/1 and groups."""
        self._validate_params()
        x = np.asarray(X, dtype=np.float32)
        labels = np.asarray(y)
        self.classes_ = np.unique(labels)
        if self.classes_.tolist() != [0, 1]:
            raise ConfigError(
                f"fairness mitigation needs binary labels 0/1, got classes {self.classes_.tolist()}"
            )
        self.n_features_in_ = int(x.shape[1])
        self.sensitive_names_ = tuple(str(k) for k in sensitive_features)
        if not self.sensitive_names_:
            raise ConfigError("fairness mitigation needs at least one sensitive attribute")
        self.group_values_ = [
            sorted({str(v) for v in np.asarray(sensitive_features[k]).tolist()})
            for k in self.sensitive_names_
        ]
        codes = self._codes(sensitive_features)
        self.uses_groups_ = self.method == "threshold"
        if self.uses_groups_:
            self._fit_threshold(x, labels, codes)
        else:
            self._fit_reductions(x, labels, codes)
        return self

    def _validate_params(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.constraint not in CONSTRAINTS:
            raise ConfigError(
                f"constraint must be one of {', '.join(CONSTRAINTS)}, got {self.constraint!r}"
            )
        if self.estimator is None:
            raise ConfigError("FairnessMitigator needs an estimator")

    def _codes(self, sensitive: Mapping[str, np.ndarray]) -> np.ndarray:
        """Group codes ``(n, n_attributes)``: each value's index in ``group_values_``."""
        columns = []
        for name, values in zip(self.sensitive_names_, self.group_values_, strict=True):
            if name not in sensitive:
                raise ConfigError(f"sensitive attribute {name!r} is missing")
            lookup = {v: i for i, v in enumerate(values)}
            raw = [str(v) for v in np.asarray(sensitive[name]).tolist()]
            unknown = sorted(set(raw) - lookup.keys())
            if unknown:
                raise ConfigError(f"{name}: groups unseen when fitting: {', '.join(unknown[:5])}")
            columns.append(np.array([lookup[v] for v in raw], dtype=np.int64))
        return np.stack(columns, axis=1)

    def _fit_threshold(self, x: np.ndarray, y: np.ndarray, codes: np.ndarray) -> None:
        from fairlearn.postprocessing import ThresholdOptimizer

        self.group_codes_, joint = np.unique(codes, axis=0, return_inverse=True)
        optimizer = ThresholdOptimizer(
            estimator=self.estimator,
            constraints=_THRESHOLD_CONSTRAINT[self.constraint],
            prefit=self.prefit,
            predict_method=_score_method(self.estimator),
            grid_size=self.grid_size,
        )
        optimizer.fit(x, y, sensitive_features=joint.reshape(-1))
        self.estimator_ = optimizer.estimator_
        table = optimizer.interpolated_thresholder_.interpolation_dict
        self.interpolation_ = np.array(
            [_interpolation_row(table[g]) for g in range(len(self.group_codes_))]
        )

    def _fit_reductions(self, x: np.ndarray, y: np.ndarray, codes: np.ndarray) -> None:
        from fairlearn.reductions import (
            DemographicParity,
            EqualizedOdds,
            ExponentiatedGradient,
            TruePositiveRateParity,
        )

        moments = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
                   "equal_opportunity": TruePositiveRateParity}  # fmt: skip
        reduction = ExponentiatedGradient(
            clone(self.estimator),
            constraints=moments[self.constraint](difference_bound=self.eps),
            eps=self.eps,
            max_iter=self.max_iter,
            sample_weight_name=_sample_weight_name(self.estimator),
        )
        joint = np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)
        with warnings.catch_warnings():  # Fairlearn 0.15's pandas 3 deprecation notices
            warnings.filterwarnings("ignore", module=r"fairlearn\.")
            reduction.fit(x, y, sensitive_features=joint)
        weights = np.asarray(reduction.weights_, dtype=np.float64)
        keep = np.flatnonzero(weights > 0)
        self.predictors_ = [reduction.predictors_[int(reduction.weights_.index[i])] for i in keep]
        self.weights_ = weights[keep] / weights[keep].sum()

    def pmf_predict(self, X: np.ndarray) -> np.ndarray:
        """``(n, 2)``: the probabilities that the randomized classifier answers 0 and 1.

        With ``uses_groups_`` the last ``len(sensitive_names_)`` columns of ``X`` must be the
        group codes (see :meth:`with_groups`).
        """
        check_is_fitted(self, "uses_groups_")
        x = self._check_input(X)
        if self.uses_groups_:
            positive = self._threshold_pmf(x)
        else:
            positive = np.zeros(len(x))
            for weight, model in zip(self.weights_, self.predictors_, strict=True):
                positive += weight * (np.asarray(model.predict(x)) == 1)
        return np.stack([1.0 - positive, positive], axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The randomized decision, with a coin derived from each row (deterministic)."""
        positive = self.pmf_predict(X)[:, 1]
        coins = row_uniforms(np.asarray(X, dtype=np.float32), self.random_state)
        decisions: np.ndarray = self.classes_[(coins < positive).astype(np.int64)]
        return decisions

    def _check_input(self, X: np.ndarray) -> np.ndarray:
        x = np.asarray(X, dtype=np.float32)
        extra = len(self.sensitive_names_) if self.uses_groups_ else 0
        if x.ndim != 2 or x.shape[1] != self.n_features_in_ + extra:
            hint = " (features followed by the group-code columns)" if extra else ""
            raise ValueError(
                f"expected input of shape (n, {self.n_features_in_ + extra}){hint}, got {x.shape}"
            )
        return x

    def _threshold_pmf(self, x: np.ndarray) -> np.ndarray:
        """Fairlearn's interpolated thresholds applied to the estimator's scores."""
        n_attr = len(self.sensitive_names_)
        features, codes = x[:, : self.n_features_in_], x[:, self.n_features_in_ :]
        scores = _scores(self.estimator_, features)
        lookup = {tuple(row): i for i, row in enumerate(self.group_codes_.tolist())}
        keys = [tuple(int(c) for c in row) for row in codes.reshape(-1, n_attr).tolist()]
        missing = sorted({k for k in keys if k not in lookup})
        if missing:
            raise ValueError(f"group codes unseen when fitting: {missing[:3]}")
        rows = self.interpolation_[[lookup[k] for k in keys]]
        p0, op0, t0, p1, op1, t1, p_ignore, constant = rows.T
        out = p0 * _apply(op0, t0, scores) + p1 * _apply(op1, t1, scores)
        result: np.ndarray = p_ignore * constant + (1.0 - p_ignore) * out
        return result

    def group_columns(self, sensitive: Mapping[str, np.ndarray]) -> np.ndarray:
        """The group-code columns for ``sensitive`` attributes, float32 ``(n, n_attributes)``."""
        check_is_fitted(self, "group_values_")
        return self._codes(sensitive).astype(np.float32)

    def with_groups(self, X: np.ndarray, sensitive: Mapping[str, np.ndarray]) -> np.ndarray:
        """``X`` as this model takes it: features, then the group codes when it uses them."""
        check_is_fitted(self, "uses_groups_")
        x = np.asarray(X, dtype=np.float32)
        if not self.uses_groups_:
            return x
        return np.concatenate([x, self.group_columns(sensitive)], axis=1)


def _score_method(estimator: Any) -> str:
    """The estimator's soft output Fairlearn should threshold."""
    for method in ("predict_proba", "decision_function"):
        if hasattr(estimator, method):
            return method
    return "predict"


def _scores(estimator: Any, x: np.ndarray) -> np.ndarray:
    """The soft output :func:`_score_method` names (the positive class's probability)."""
    method = _score_method(estimator)
    out = np.asarray(getattr(estimator, method)(x), dtype=np.float64)
    return out[:, 1] if method == "predict_proba" else out.reshape(-1)


def _interpolation_row(bunch: Mapping[str, Any]) -> list[float]:
    """One group's Fairlearn interpolation as numbers: p0, op0, t0, p1, op1, t1, p_ignore, c."""

    def op(o: Any) -> list[float]:
        return [1.0 if o.operator == ">" else -1.0, float(o.threshold)]

    return [float(bunch["p0"]), *op(bunch["operation0"]), float(bunch["p1"]),
            *op(bunch["operation1"]), float(bunch.get("p_ignore", 0.0)),
            float(bunch.get("prediction_constant", 0.0))]  # fmt: skip


def _apply(op: np.ndarray, threshold: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Fairlearn's ThresholdOperation: ``score > t`` (op 1) or ``score < t`` (op -1)."""
    return np.where(op > 0, scores > threshold, scores < threshold).astype(np.float64)


def _sample_weight_name(estimator: Any) -> str:
    """The fit parameter that takes sample weights (``step__sample_weight`` in a Pipeline)."""
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    if not has_fit_parameter(final, "sample_weight"):
        raise ConfigError(
            f"the reductions method retrains {type(final).__name__}, whose fit() does not "
            "accept sample_weight; use --method threshold"
        )
    return f"{steps[-1][0]}__sample_weight" if steps else "sample_weight"


def row_uniforms(x: np.ndarray, key: int) -> np.ndarray:
    """One number in [0, 1) per row, a keyed hash of the row's bytes."""
    flat = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
    salt = int(key).to_bytes(8, "little", signed=True)
    out = np.empty(len(flat))
    for i, row in enumerate(flat):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8, key=salt).digest()
        out[i] = int.from_bytes(digest, "little") / 2.0**64
    return out


def mitigate(
    estimator: Any,
    train: Dataset,
    *,
    method: str = "threshold",
    constraint: str = "demographic_parity",
    sensitive: tuple[str, ...] | None = None,
    positive_class: int = 1,
    seed: int = 0,
    **options: Any,
) -> FairnessMitigator:
    """Fit a :class:`FairnessMitigator` for ``estimator`` on ``train``'s sensitive attributes.

    ``sensitive`` picks the attributes (default: all of ``train``; several are mitigated
    jointly, over their intersection); labels equal to ``positive_class`` are the favourable
    outcome. ``options`` go to the mitigator (``eps``, ``max_iter``, ``grid_size``, ``prefit``).
    """
    names = _sensitive_names(train, sensitive)
    if train.n_classes > 2:
        raise ConfigError(f"{train.name}: fairness mitigation needs a binary task")
    labels = (train.y == positive_class).astype(np.int64)
    model = FairnessMitigator(estimator, method=method, constraint=constraint,
                              random_state=seed, **options)  # fmt: skip
    x = train.x.reshape(len(train), -1)
    return model.fit(x, labels, sensitive_features={n: train.sensitive[n] for n in names})


def check_mitigable(
    estimator: Any,
    train: Dataset,
    *,
    method: str = "threshold",
    constraint: str = "demographic_parity",
    sensitive: tuple[str, ...] | None = None,
) -> None:
    """The ConfigError :func:`mitigate` would raise on these inputs, without fitting anything
    (so a caller can fail before a long audit): method, constraint, sensitive attributes, a
    binary task, and for reductions an estimator whose ``fit`` takes sample weights."""
    FairnessMitigator(estimator, method=method, constraint=constraint)._validate_params()
    _sensitive_names(train, sensitive)
    if train.n_classes > 2:
        raise ConfigError(f"{train.name}: fairness mitigation needs a binary task")
    if method == "reductions":
        _sample_weight_name(estimator)


def _sensitive_names(train: Dataset, sensitive: tuple[str, ...] | None) -> tuple[str, ...]:
    """The attributes to mitigate for (default: all of ``train``'s); ConfigError if missing."""
    names = tuple(train.sensitive) if sensitive is None else tuple(sensitive)
    missing = [n for n in names if n not in train.sensitive]
    if missing or not names:
        raise ConfigError(
            f"{train.name}: no sensitive attribute(s) {', '.join(missing) or ''} to mitigate "
            f"(it has: {', '.join(train.sensitive) or 'none'})"
        )
    return names


def model_input(model: FairnessMitigator, data: Dataset) -> Dataset:
    """``data`` as the mitigated model takes it: group-code columns appended when it uses them."""
    if not model.uses_groups_:
        return data
    sensitive = {n: data.sensitive[n] for n in model.sensitive_names_}
    names = data.feature_names
    if names is not None:
        names = (*names, *(GROUP_PREFIX + n for n in model.sensitive_names_))
    x = model.with_groups(data.x.reshape(len(data), -1), sensitive)
    return replace(data, x=x, feature_names=names)
