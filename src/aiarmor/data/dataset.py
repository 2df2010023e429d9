"""The in-memory dataset every check consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from aiarmor.core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class Dataset:
    """Features, integer labels and optional sensitive attributes, validated on creation.

    ``x`` is float32 with one sample per row of the first axis (any trailing shape, e.g.
    ``(n, 1, 28, 28)`` images or ``(n, d)`` tables); ``y`` is int64 of shape ``(n,)`` with
    labels ``0..k-1``. Values are finite: NaN or infinities raise :class:`DataError`.
    """

    x: np.ndarray
    """Features, float32, shape ``(n, ...)``."""
    y: np.ndarray
    """Labels, int64, shape ``(n,)``."""
    sensitive: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Sensitive attributes by name, each shape ``(n,)``."""
    feature_names: tuple[str, ...] | None = None
    """Column names for tabular data."""
    name: str = "data"
    """Where it came from (path or demo name)."""
    classes: tuple[str, ...] | None = None
    """Original class labels, index-aligned with ``0..k-1``, when labels were encoded."""
    table: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    """The table as read, row-aligned with ``x`` (every column, values not encoded), for
    checks that inspect raw values such as ``privacy.pii``; ``None`` for array data."""

    def __post_init__(self) -> None:
        validate_arrays(self.x, self.y, self.sensitive, self.name)
        if self.table is not None:
            _validate_table(self.table, len(self.y), self.name)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes: the encoded class list, else ``max(y) + 1``."""
        if self.classes is not None:
            return len(self.classes)
        return int(self.y.max()) + 1 if len(self) else 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample."""
        return tuple(int(d) for d in self.x.shape[1:])

    def subset(self, index: np.ndarray) -> Dataset:
        """The rows selected by an index or boolean mask, as a new Dataset."""
        return Dataset(
            x=self.x[index],
            y=self.y[index],
            sensitive={k: v[index] for k, v in self.sensitive.items()},
            feature_names=self.feature_names,
            name=self.name,
            classes=self.classes,
            table=None if self.table is None else self.table.iloc[index],
        )


def _validate_table(table: object, n: int, name: str) -> None:
    """Raise DataError unless ``table`` is a DataFrame with one row per sample."""
    shape = getattr(table, "shape", None)
    if not hasattr(table, "columns") or shape is None or len(shape) != 2:
        raise DataError(f"{name}: table must be a pandas DataFrame")
    if shape[0] != n:
        raise DataError(f"{name}: table has {shape[0]} rows but there are {n} samples")


def validate_arrays(
    x: np.ndarray, y: np.ndarray, sensitive: Mapping[str, np.ndarray], name: str
) -> None:
    """Raise DataError unless x/y/sensitive form a well-typed, finite, aligned dataset."""
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise DataError(f"{name}: x and y must be NumPy arrays")
    if x.dtype != np.float32:
        raise DataError(f"{name}: x must be float32, got {x.dtype}")
    if y.dtype != np.int64:
        raise DataError(f"{name}: y must be int64 class indices, got {y.dtype}")
    if x.ndim < 2:
        raise DataError(f"{name}: x must have shape (n_samples, ...), got {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{name}: y must have shape (n_samples,), got {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{name}: x has {x.shape[0]} samples but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise DataError(f"{name}: the dataset is empty")
    bad = ~np.isfinite(x)
    if bad.any():
        rows = int(bad.reshape(x.shape[0], -1).any(axis=1).sum())
        raise DataError(f"{name}: x contains NaN or infinite values in {rows} sample(s)")
    if y.min() < 0:
        raise DataError(f"{name}: labels must be non-negative class indices")
    for key, arr in sensitive.items():
        if not isinstance(arr, np.ndarray) or arr.shape != (x.shape[0],):
            raise DataError(f"{name}: sensitive attribute {key!r} must have shape ({x.shape[0]},)")
