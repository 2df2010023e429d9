"""Load a dataset file (.npz arrays or a .csv/.parquet table) into a validated Dataset.

The format is told by content first (zip, parquet and .npy magic bytes), then by suffix.
Nothing is ever unpickled: ``.npz`` files are read with ``allow_pickle=False`` and an array of
Python objects is refused. Every problem with the file is a :class:`DataError` whose one-line
message names the file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aiarmor.core.errors import DataError
from aiarmor.data._encode import (
    check_finite_rows,
    encode_labels,
    preview,
    sensitive_values,
    to_float32,
)
from aiarmor.data.dataset import Dataset
from aiarmor.data.tables import read_table, table_to_dataset

SENSITIVE_PREFIX = "sensitive_"
"""Arrays named ``sensitive_<name>`` in an .npz file are sensitive attribute ``<name>``."""

_TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def load_dataset(
    path: str | Path,
    *,
    label: str | None = None,
    sensitive: Sequence[str] = (),
    name: str | None = None,
    reference: Dataset | None = None,
) -> Dataset:
    """Load ``path`` as a Dataset (x float32, y int64).

    * ``.npz``: arrays ``x`` and ``y``, optional ``sensitive_<name>`` arrays (all of them, or
      only those named in ``sensitive``).
    * ``.csv`` / ``.parquet``: ``label`` names the label column (required); ``sensitive``
      columns are removed from the features and kept in ``Dataset.sensitive``; text columns
      are one-hot encoded.

    Non-negative integer labels are kept as class indices; string (or negative) labels are
    encoded to ``0..k-1`` in sorted order and recorded in ``Dataset.classes``. Pass the
    training set as ``reference`` to encode labels and align one-hot features the same way.
    """
    file = Path(path)
    source = str(file)
    kind = _detect(file, source)
    sensitive = tuple(sensitive)
    if kind == "npz":
        classes = reference.classes if reference is not None else None
        return _load_npz(file, source, label, sensitive, name or source, classes)
    frame = read_table(file, kind)
    return table_to_dataset(
        frame, source, label=label, sensitive=sensitive, name=name or source, reference=reference
    )


def _detect(file: Path, source: str) -> str:
    """``npz``, ``csv`` or ``parquet``, from magic bytes and then the suffix."""
    if not file.is_file():
        raise DataError(f"{source}: no such file" if not file.exists() else f"{source}: not a file")
    try:
        with file.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise DataError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    suffix = file.suffix.lower()
    if not head:
        raise DataError(f"{source}: the file is empty")
    if head.startswith(b"\x93NUMPY"):
        raise DataError(
            f"{source}: a .npy file holds one array, but a dataset needs labels too; "
            "save both with np.savez(path, x=x, y=y)"
        )
    if head.startswith(b"PK"):
        return "npz"
    if head.startswith(b"PAR1"):
        return "parquet"
    if suffix == ".npz":
        raise DataError(f"{source}: not a valid .npz file (it is not a zip archive)")
    if suffix in _TABLE_SUFFIXES:
        if _TABLE_SUFFIXES[suffix] == "parquet":
            raise DataError(f"{source}: not a valid parquet file (bad magic bytes)")
        return "csv"
    raise DataError(f"{source}: unsupported data format; expected .npz, .csv or .parquet")


def _load_npz(
    file: Path,
    source: str,
    label: str | None,
    sensitive: tuple[str, ...],
    name: str,
    classes: tuple[str, ...] | None,
) -> Dataset:
    """Dataset from an .npz archive of arrays x, y and sensitive_<name>."""
    if label not in (None, "y"):
        raise DataError(f"{source}: --label is for tables; an .npz file's labels are array 'y'")
    arrays = _read_npz(file, source)
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(
                f"{source}: no array named {key!r}; arrays are: {preview(sorted(arrays))}"
            )
    x, y = arrays["x"], arrays["y"]
    if x.ndim < 2:
        raise DataError(
            f"{source}: x must have one sample per row, shape (n_samples, ...), got {x.shape}"
        )
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{source}: x has {x.shape[0]} samples but y has {y.shape[0]} labels")
    if x.shape[0] == 0:
        raise DataError(f"{source}: the dataset is empty")
    x = to_float32(x, source)
    check_finite_rows(x, source)
    labels, encoded = encode_labels(y, f"{source} (array 'y')", classes)
    groups = _npz_sensitive(arrays, sensitive, source, x.shape[0])
    return Dataset(x=x, y=labels, sensitive=groups, name=name, classes=encoded)


def _read_npz(file: Path, source: str) -> dict[str, np.ndarray]:
    """Every array of the archive, read without unpickling."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(file, allow_pickle=False) as archive:
            for key in archive.files:
                arrays[key] = _read_member(archive, key, source)
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError):
        raise DataError(f"{source}: not a valid .npz file (corrupt or truncated zip)") from None
    except Exception as exc:  # numpy/zlib raise many types on corrupt members
        raise DataError(f"{source}: cannot read the .npz archive: {type(exc).__name__}") from None
    return arrays


def _read_member(archive: np.lib.npyio.NpzFile, key: str, source: str) -> np.ndarray:
    """One array of an NpzFile; object arrays (pickled) are a DataError."""
    try:
        value = archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{source}: array {key!r} holds Python objects, which would need unpickling; "
                "aiarmor never unpickles data files: save numeric or string arrays"
            ) from None
        raise DataError(f"{source}: cannot read array {key!r}: {preview([exc], 1)}") from None
    if not isinstance(value, np.ndarray):
        raise DataError(f"{source}: member {key!r} is not an array")
    return value


def _npz_sensitive(
    arrays: dict[str, np.ndarray], wanted: tuple[str, ...], source: str, n: int
) -> dict[str, np.ndarray]:
    """The ``sensitive_<name>`` arrays (all, or those in ``wanted``), each of shape ``(n,)``."""
    found = {
        k[len(SENSITIVE_PREFIX) :]: v for k, v in arrays.items() if k.startswith(SENSITIVE_PREFIX)
    }
    for key in wanted:
        if key not in found:
            raise DataError(
                f"{source}: no array {SENSITIVE_PREFIX + key!r} for sensitive attribute {key!r}; "
                f"sensitive arrays are: {preview(sorted(found)) or 'none'}"
            )
    chosen = {k: found[k] for k in wanted} if wanted else found
    for key, value in chosen.items():
        if value.shape != (n,):
            raise DataError(
                f"{source}: sensitive attribute {key!r} must have shape ({n},), got {value.shape}"
            )
    return {k: sensitive_values(v) for k, v in chosen.items()}
