"""Group and intersectional fairness metrics with bootstrap confidence intervals.

The numbers are Fairlearn's: per-group rates come from :class:`fairlearn.metrics.MetricFrame`
and the disparities from its ``difference()``/``ratio()``, exactly as
``fairlearn.metrics.demographic_parity_difference`` and friends compute them (the tests check
both routes give the same answer).

The intervals are a percentile bootstrap over records. ``MetricFrame(n_boot=...)`` recomputes
the whole frame per resample (about 0.7 s each on 15k records here), so resamples are drawn
instead as multinomial counts of the (group, label, prediction) cells - the same
distribution as resampling records, because these metrics depend on the records only through
those counts - and the rates are computed from the counts with Fairlearn's conventions (a rate
with an empty denominator is 0). The tests check that this kernel reproduces Fairlearn's
numbers on the observed counts.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score

RATES: dict[str, Callable[..., Any]] = {
    "selection_rate": selection_rate,
    "accuracy": accuracy_score,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "precision": functools.partial(precision_score, zero_division=0.0),
}
"""Per-group rates, name -> metric function (Fairlearn's, or scikit-learn's)."""

DISPARITIES: tuple[str, ...] = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
)
"""Between-group disparities, named as the ``fairlearn.metrics`` functions that define them."""

INTERSECTION = "&"
"""Joins attribute names (``sex&race``) and group values (``Female&White``) of intersections."""


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The rates of one group."""

    name: str
    """The group's value of the attribute (``Female``, ``Female&Black``)."""
    count: int
    """Records in the group."""
    rates: Mapping[str, float]
    """``RATES`` name -> value."""
    intervals: Mapping[str, tuple[float, float]]
    """``RATES`` name -> bootstrap confidence interval (low, high)."""
    compared: bool
    """True when the group is large enough to enter the disparities."""


@dataclass(frozen=True, slots=True)
class AttributeFairness:
    """Per-group rates and between-group disparities for one (possibly joint) attribute."""

    attribute: str
    """The attribute's name (``sex``, or ``sex&race`` for an intersection)."""
    groups: tuple[GroupStats, ...]
    """Every group seen, sorted by name."""
    disparities: Mapping[str, float]
    """``DISPARITIES`` name -> value over the compared groups (NaN when fewer than two)."""
    intervals: Mapping[str, tuple[float, float]]
    """``DISPARITIES`` name -> bootstrap confidence interval (low, high)."""
    confidence: float
    """The intervals' confidence level."""

    @property
    def small_groups(self) -> tuple[GroupStats, ...]:
        """The groups too small to be compared."""
        return tuple(g for g in self.groups if not g.compared)


def binarize(labels: np.ndarray, positive: int) -> np.ndarray:
    """``1`` where ``labels == positive`` (the favourable outcome), else ``0``, as int64."""
    out: np.ndarray = (np.asarray(labels) == positive).astype(np.int64)
    return out


def group_values(sensitive: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """Group labels of each record for one attribute or, with several names, their intersection."""
    columns = [np.asarray(sensitive[n]).astype(str) for n in names]
    out = columns[0]
    for col in columns[1:]:
        out = np.char.add(np.char.add(out, INTERSECTION), col)
    return out


def attribute_sets(names: Sequence[str], intersections: bool) -> list[tuple[str, ...]]:
    """The attributes to assess: each alone, then (optionally) each pair's intersection."""
    out: list[tuple[str, ...]] = [(n,) for n in names]
    if intersections:
        out += [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    return out


def assess_attribute(
    attribute: str,
    groups: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    min_group_size: int,
    rng: np.random.Generator,
    n_boot: int,
    confidence: float = 0.95,
) -> AttributeFairness:
    """Rates per group and disparities between the groups of at least ``min_group_size``.

    ``y_true`` and ``y_pred`` are binary (1 = favourable outcome). Groups below the minimum
    size are reported but left out of the disparities: their rates are too noisy to compare.
    """
    names, codes, counts = np.unique(groups, return_inverse=True, return_counts=True)
    compared = counts >= min_group_size
    by_group = MetricFrame(
        metrics=RATES, y_true=y_true, y_pred=y_pred, sensitive_features=groups
    ).by_group
    disparities = fairlearn_disparities(y_true, y_pred, groups, names[compared])
    cells = cell_counts(codes.reshape(-1), y_true, y_pred, len(names))
    boot_rates, boot_disp = bootstrap(cells, compared, rng=rng, n_boot=n_boot)
    alpha = (1.0 - confidence) / 2.0
    stats = tuple(
        GroupStats(
            name=str(name),
            count=int(counts[i]),
            rates={m: float(by_group.loc[name, m]) for m in RATES},
            intervals={m: _interval(boot_rates[m][:, i], alpha) for m in RATES},
            compared=bool(compared[i]),
        )
        for i, name in enumerate(names)
    )
    return AttributeFairness(
        attribute=attribute,
        groups=stats,
        disparities=disparities,
        intervals={d: _interval(boot_disp[d], alpha) for d in DISPARITIES},
        confidence=confidence,
    )


def fairlearn_disparities(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, compared: np.ndarray
) -> dict[str, float]:
    """The ``DISPARITIES`` over the records of the ``compared`` groups, as Fairlearn defines them.

    ``equalized_odds_difference`` is the larger of the TPR and FPR differences (Fairlearn's
    default ``agg="worst_case"``); NaN everywhere when fewer than two groups are compared.
    """
    if len(compared) < 2:
        return dict.fromkeys(DISPARITIES, float("nan"))
    keep = np.isin(groups, compared)
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate,
                 "fpr": false_positive_rate},
        y_true=y_true[keep],
        y_pred=y_pred[keep],
        sensitive_features=groups[keep],
    )  # fmt: skip
    diff, ratio = frame.difference(), frame.ratio()
    return {
        "demographic_parity_difference": float(diff["selection_rate"]),
        "demographic_parity_ratio": float(ratio["selection_rate"]),
        "equalized_odds_difference": float(max(diff["tpr"], diff["fpr"])),
        "equal_opportunity_difference": float(diff["tpr"]),
    }


def cell_counts(
    codes: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, n_groups: int
) -> np.ndarray:
    """Counts of shape ``(n_groups, 4)``: per group, records with (y, pred) = 00, 01, 10, 11."""
    cell = codes * 4 + 2 * np.asarray(y_true) + np.asarray(y_pred)
    return np.bincount(cell, minlength=4 * n_groups).reshape(n_groups, 4)


def rates_from_counts(cells: np.ndarray) -> dict[str, np.ndarray]:
    """``RATES`` from counts ``(..., groups, 4)``, with Fairlearn's convention ``x/0 = 0``."""
    tn, fp, fn, tp = (cells[..., k].astype(np.float64) for k in range(4))
    n = tn + fp + fn + tp
    return {
        "selection_rate": _div(fp + tp, n),
        "accuracy": _div(tn + tp, n),
        "tpr": _div(tp, tp + fn),
        "fpr": _div(fp, fp + tn),
        "precision": _div(tp, tp + fp),
    }


def disparities_from_rates(
    rates: Mapping[str, np.ndarray], compared: np.ndarray
) -> dict[str, np.ndarray]:
    """``DISPARITIES`` over the ``compared`` groups (last axis) of rates from the kernel."""
    if int(compared.sum()) < 2:
        shape = rates["selection_rate"].shape[:-1]
        return {d: np.full(shape, np.nan) for d in DISPARITIES}
    sel, tpr, fpr = (rates[m][..., compared] for m in ("selection_rate", "tpr", "fpr"))
    tpr_gap = tpr.max(axis=-1) - tpr.min(axis=-1)
    return {
        "demographic_parity_difference": sel.max(axis=-1) - sel.min(axis=-1),
        "demographic_parity_ratio": _div(sel.min(axis=-1), sel.max(axis=-1), empty=np.nan),
        "equalized_odds_difference": np.maximum(tpr_gap, fpr.max(axis=-1) - fpr.min(axis=-1)),
        "equal_opportunity_difference": tpr_gap,
    }


def bootstrap(
    cells: np.ndarray, compared: np.ndarray, *, rng: np.random.Generator, n_boot: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Rates ``(n_boot, groups)`` and disparities ``(n_boot,)`` over record resamples."""
    flat = cells.reshape(-1).astype(np.float64)
    total = int(flat.sum())
    draws = rng.multinomial(total, flat / total, size=n_boot).reshape(n_boot, *cells.shape)
    rates = rates_from_counts(draws)
    return rates, disparities_from_rates(rates, compared)


def _div(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """``num / den`` with ``empty`` where ``den == 0``."""
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    """The percentile interval of bootstrap ``values`` (NaN when all are NaN)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)
