"""What the training-set poison detectors share: per-class splits and the poisoned-side choice.

Both detectors look at one class at a time (a backdoor relabels its poison into the target
class, so the poison is a second population inside that class), split the class in two, and
must then answer two questions that the original papers answer with fixed fractions or sizes:

* Is this class poisoned at all? Clean classes have natural sub-populations too (sandals
  with and without straps), so every class splits somewhat. The detectors flag a class only
  when its split is clearly separated (an absolute floor) *and* an outlier among the
  classes' separations (robust z-score over classes: median and MAD), so that clean classes
  of a clean model stay quiet.
* Which side is the poison? Backdoor poison is drawn from all the other classes: its
  runner-up prediction (the best class other than the label) is its true source class and
  spreads over many classes, while a clean sub-population's runner-up is a few neighbouring
  classes. The side with the higher runner-up entropy is the poison; without logits, the
  smaller side (Chen et al.'s relative-size rule). With logits, a poisoned class's sides must
  also differ by ``min_entropy_gap`` nats: a clean class that splits cleanly (sandals by
  style) has sides with similar runner-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aiarmor.core.errors import DataError

MIN_CLASS_SIZE = 20
"""Classes with fewer samples are not analysed (a split of a handful means nothing)."""


@dataclass(frozen=True, slots=True)
class ClassAnalysis:
    """One class's split, as a detector saw it."""

    label: int
    """The class."""
    n: int
    """Samples labelled with it."""
    separation: float
    """How clearly the class splits in two (the detector's own measure)."""
    outlier_z: float
    """Robust z-score of ``separation`` among the analysed classes."""
    entropy_gap: float
    """Runner-up entropy of the poisoned side minus the clean side's (NaN without logits)."""
    poisoned: bool
    """Whether the detector judged the class poisoned."""
    n_suspected: int
    """Samples of the class flagged as suspected poison."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form for report evidence."""
        return {"class": self.label, "n": self.n, "separation": round(self.separation, 4),
                "outlier_z": round(self.outlier_z, 3),
                "entropy_gap": None if np.isnan(self.entropy_gap) else round(self.entropy_gap, 4),
                "poisoned": self.poisoned,
                "n_suspected": self.n_suspected}  # fmt: skip


def check_inputs(
    features: np.ndarray, y: np.ndarray, logits: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated float64 features (n, d), int labels (n,) and optional logits (n, k)."""
    feats = np.asarray(features, dtype=np.float64)
    labels = np.asarray(y)
    if feats.ndim != 2 or labels.ndim != 1 or len(feats) != len(labels):
        raise DataError(
            f"features must be (n, d) and labels (n,), got {feats.shape} and {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or (len(labels) and labels.min() < 0):
        raise DataError("labels must be non-negative integer class indices")
    if not np.isfinite(feats).all():
        raise DataError("features contain NaN or infinite values")
    if logits is None:
        return feats, labels.astype(np.int64), None
    lg = np.asarray(logits, dtype=np.float64)
    if lg.ndim != 2 or len(lg) != len(feats) or (len(labels) and lg.shape[1] <= labels.max()):
        raise DataError(f"logits must be (n, n_classes) for the labels, got {lg.shape}")
    return feats, labels.astype(np.int64), lg


def outlier_z(values: np.ndarray) -> np.ndarray:
    """Robust z-scores: distance above the median in consistent-MAD units (floored MAD)."""
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - med)))
    return np.asarray((values - med) / max(mad, 0.05 * abs(med), 1e-6), dtype=np.float64)


def runner_up_entropy(logits: np.ndarray, label: int) -> float:
    """Entropy of the best class other than ``label`` over the rows (natural log)."""
    rest = logits.copy()
    rest[:, label] = -np.inf
    freq = np.bincount(rest.argmax(axis=1), minlength=logits.shape[1]) / len(rest)
    freq = freq[freq > 0]
    return float(-(freq * np.log(freq)).sum())


def poisoned_side(side: np.ndarray, logits: np.ndarray | None, label: int) -> tuple[bool, float]:
    """Whether the True side of ``side`` holds the poison (see the module docstring), and the
    runner-up entropy gap between the poisoned and the clean side (NaN without logits)."""
    if logits is None or side.all() or not side.any():
        return bool(side.sum() <= (~side).sum()), float("nan")
    gap = runner_up_entropy(logits[side], label) - runner_up_entropy(logits[~side], label)
    return gap >= 0, abs(gap)


def per_class(labels: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(label, row indices)`` for every class large enough to analyse."""
    out = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        if len(rows) >= MIN_CLASS_SIZE:
            out.append((int(c), rows))
    if not out:
        raise DataError(f"no class has the {MIN_CLASS_SIZE} samples a split needs")
    return out
