"""Tables (.csv, .parquet) to Dataset: label column, sensitive columns, one-hot features."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aiarmor.core.errors import ConfigError, DataError
from aiarmor.data._encode import encode_labels, preview, sensitive_values, short, to_float32
from aiarmor.data.dataset import Dataset

MAX_CATEGORIES = 1000
"""A text column with more distinct values than this is left out of the features (with a
warning) rather than one-hot encoded: it is an identifier or free text (names, e-mail
addresses, notes), not a category. It stays in ``Dataset.table`` for the data checks."""


def read_table(path: Path, kind: str) -> pd.DataFrame:
    """Read a ``csv`` or ``parquet`` file into a DataFrame; any parse failure is a DataError."""
    if kind == "parquet":
        _require_parquet_engine()
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except Exception as exc:  # parsers raise many types on malformed input
        raise DataError(f"{path}: cannot read it as {kind}: {_one_line(exc)}") from None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{path}: does not hold a table")
    return frame


def _require_parquet_engine() -> None:
    """ConfigError when no parquet engine is installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError(
            "reading .parquet files needs pyarrow: pip install 'aiarmor[parquet]'"
        ) from None


def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` for an exception."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {short(text, 160)}" if text else type(exc).__name__


def table_to_dataset(
    frame: pd.DataFrame,
    source: str,
    *,
    label: str | None,
    sensitive: Sequence[str],
    name: str,
    reference: Dataset | None = None,
) -> Dataset:
    """Split a table into features, labels and sensitive attributes, encoded as a Dataset.

    Non-numeric feature columns are one-hot encoded as ``column=value`` features. With a
    ``reference`` (e.g. the training set), labels use its classes and features are aligned to
    its feature names: unseen categories become all-zero, absent categories zero columns.
    """
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis="columns")
    if frame.shape[0] == 0:
        raise DataError(f"{source}: the table has no rows")
    label_col = _check_columns(columns, label, sensitive, source)
    y, classes = _labels(frame[label_col], source, reference)
    groups = {s: sensitive_values(frame[s].to_numpy()) for s in sensitive}
    features = frame.drop(columns=[label_col, *sensitive])
    if features.shape[1] == 0:
        raise DataError(f"{source}: no feature columns left after the label and sensitive ones")
    encoded = _one_hot(features, source)
    if reference is not None and reference.feature_names is not None:
        encoded = _align(encoded, features, reference.feature_names, source)
    _check_finite_columns(encoded, source)
    x = to_float32(encoded.to_numpy(), source, "features")
    return Dataset(
        x=x,
        y=y,
        sensitive=groups,
        feature_names=tuple(str(c) for c in encoded.columns),
        name=name,
        classes=classes,
        table=frame,
    )


def _check_columns(
    columns: list[str], label: str | None, sensitive: Sequence[str], source: str
) -> str:
    """The label column name, after checking the label and sensitive columns exist."""
    if label is None:
        raise DataError(f"{source}: a table needs its label column named (--label COL)")
    for col, role in [(label, "label"), *[(s, "sensitive") for s in sensitive]]:
        if col not in columns:
            raise DataError(
                f"{source}: {role} column {col!r} not found; columns are: {preview(columns)}"
            )
    if label in sensitive:
        raise DataError(f"{source}: column {label!r} cannot be both the label and sensitive")
    return label


def _labels(
    column: pd.Series[Any], source: str, reference: Dataset | None
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Encoded labels of the label column (missing values are an error)."""
    missing = int(column.isna().sum())
    if missing:
        raise DataError(f"{source}: label column {column.name!r} has {missing} missing value(s)")
    values = column.to_numpy()
    if values.dtype.kind == "O" or isinstance(column.dtype, pd.CategoricalDtype):
        values = np.asarray(column.astype(str))
    classes = reference.classes if reference is not None else None
    return encode_labels(values, f"{source} (label column {column.name!r})", classes)


def _one_hot(features: pd.DataFrame, source: str) -> pd.DataFrame:
    """Numeric columns as they are, non-numeric ones one-hot encoded as ``col=value``."""
    text_cols = []
    for col in features.columns:
        dtype = features[col].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
            raise DataError(f"{source}: column {col!r} holds dates or times; convert it first")
        if not pd.api.types.is_numeric_dtype(dtype):
            text_cols.append(col)
    free_text = [c for c in text_cols if int(features[c].nunique()) > MAX_CATEGORIES]
    if free_text:
        warnings.warn(
            f"{source}: left out of the model's features (more than {MAX_CATEGORIES} distinct "
            f"text values, so identifiers or free text): {preview(free_text)}",
            UserWarning,
            stacklevel=2,
        )
        features = features.drop(columns=free_text)
        text_cols = [c for c in text_cols if c not in free_text]
        if features.shape[1] == 0:
            raise DataError(f"{source}: no feature columns left besides free-text ones")
    if not text_cols:
        return features
    return pd.get_dummies(features, columns=text_cols, prefix_sep="=", dtype=np.float32)


def _align(
    encoded: pd.DataFrame, features: pd.DataFrame, names: Sequence[str], source: str
) -> pd.DataFrame:
    """Columns reordered to ``names``; missing one-hot columns are zero, unseen ones dropped."""
    numeric = {str(c) for c in features.columns if c in encoded.columns}
    text = {str(c) for c in features.columns} - numeric
    missing = [n for n in names if n not in encoded.columns and n.split("=", 1)[0] not in text]
    extra = sorted(numeric - set(names))
    if missing or extra:
        detail = f"missing {preview(missing)}" if missing else f"unexpected {preview(extra)}"
        raise DataError(f"{source}: feature columns differ from the reference data: {detail}")
    return encoded.reindex(columns=list(names), fill_value=0)


def _check_finite_columns(encoded: pd.DataFrame, source: str) -> None:
    """DataError saying how many rows, and which columns, hold NaN or infinite values."""
    values = encoded.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = int(bad.any(axis=1).sum())
        cols = [str(c) for c, b in zip(encoded.columns, bad.any(axis=0), strict=True) if b]
        raise DataError(
            f"{source}: {rows} row(s) have missing, NaN or infinite feature values, "
            f"in columns: {preview(cols)}"
        )
