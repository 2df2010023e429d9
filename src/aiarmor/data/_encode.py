"""Shared helpers for turning raw arrays into a Dataset's int64 labels and float32 features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aiarmor.core.errors import DataError


def preview(names: Sequence[object], limit: int = 12) -> str:
    """A short, one-line, comma-separated list of names for an error message."""
    shown = [short(str(n)) for n in list(names)[:limit]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def short(text: str, width: int = 40) -> str:
    """One printable line of at most ``width`` characters."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= width else clean[: width - 3] + "..."


def encode_labels(
    values: np.ndarray, source: str, classes: Sequence[str] | None = None
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Labels as int64 class indices, plus the original class names when they were encoded.

    Non-negative integer labels (also ``1.0``-style floats) are class indices already and are
    kept unchanged, so label ``i`` still means the model's output ``i`` even when a class is
    absent from this file. Booleans become 0/1. Anything else (strings, negative integers) is
    encoded to ``0..k-1`` in sorted order, the order scikit-learn's ``classes_`` uses; give
    ``classes`` (e.g. the training set's) to encode with a fixed class list instead.
    """
    if values.ndim != 1:
        raise DataError(
            f"{source}: labels must be 1-D (one per sample), got shape {values.shape}; "
            "for one-hot labels use y.argmax(axis=1)"
        )
    if values.dtype.kind == "b":
        return values.astype(np.int64), ("False", "True")
    if values.dtype.kind == "f":
        values = _integer_like(values, source)
    if values.dtype.kind in "iu" and classes is None and (values.size == 0 or values.min() >= 0):
        return values.astype(np.int64), None
    if values.dtype.kind not in "iuUSO":
        raise DataError(f"{source}: labels must be integers or strings, got dtype {values.dtype}")
    return _encode_by_name(values.astype(str), source, classes)


def _integer_like(values: np.ndarray, source: str) -> np.ndarray:
    """Float labels converted to int64, or DataError if any is missing or fractional."""
    finite = np.isfinite(values)
    if not finite.all():
        raise DataError(f"{source}: {int((~finite).sum())} label(s) are missing or infinite")
    fractional = values != np.round(values)
    if fractional.any():
        example = values[fractional][0]
        raise DataError(
            f"{source}: labels must be integer class ids; found non-integer values "
            f"such as {example:g}"
        )
    return values.astype(np.int64)


def _encode_by_name(
    names: np.ndarray, source: str, classes: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """String labels as indices into ``classes`` (default: the sorted distinct labels)."""
    if classes is None:
        uniques, codes = np.unique(names, return_inverse=True)
        return codes.astype(np.int64).reshape(-1), tuple(str(u) for u in uniques)
    known = tuple(classes)
    lookup = {name: i for i, name in enumerate(known)}
    unknown = sorted(set(names.tolist()) - lookup.keys())
    if unknown:
        raise DataError(
            f"{source}: labels not among the reference classes: {preview(unknown)} "
            f"(known classes: {preview(known)})"
        )
    return np.array([lookup[n] for n in names.tolist()], dtype=np.int64), known


def check_finite_rows(x: np.ndarray, source: str) -> None:
    """DataError naming how many samples (and the first row) hold NaN or infinite values."""
    bad = ~np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: x has NaN or infinite values in {int(bad.sum())} of {x.shape[0]} "
            f"sample(s) (first at row {first})"
        )


def to_float32(x: np.ndarray, source: str, what: str = "x") -> np.ndarray:
    """Numeric features as a C-contiguous float32 array, or DataError."""
    if x.dtype.kind not in "biuf":
        raise DataError(f"{source}: {what} must be numeric, got dtype {x.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(x, dtype=np.float32)


def sensitive_values(values: np.ndarray) -> np.ndarray:
    """A sensitive attribute as a plain NumPy array: objects become strings."""
    return values.astype(str) if values.dtype.kind == "O" else values
