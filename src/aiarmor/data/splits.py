"""Train/test splits of a Dataset."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split as _sk_split

from aiarmor.core.errors import ConfigError, DataError
from aiarmor.data.dataset import Dataset


def train_test_split(
    ds: Dataset, test_size: float = 0.25, seed: int = 0, stratify: bool = True
) -> tuple[Dataset, Dataset]:
    """Split ``ds`` into (train, test) subsets, reproducibly for a given ``seed``.

    ``test_size`` is a fraction in (0, 1). With ``stratify`` the class proportions are kept
    in both parts; when a class is too small for that (fewer than two samples, or fewer test
    or train rows than classes) the split silently falls back to an unstratified one.
    """
    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"test_size must be a fraction between 0 and 1, got {test_size}")
    if len(ds) < 2:
        raise DataError(f"{ds.name}: need at least 2 samples to split, got {len(ds)}")
    index = np.arange(len(ds))
    train, test = _split_index(index, ds.y, test_size, seed, stratify)
    return ds.subset(np.sort(train)), ds.subset(np.sort(test))


def _split_index(
    index: np.ndarray, y: np.ndarray, test_size: float, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices, stratified when the class counts allow it."""
    if stratify:
        try:
            parts = _sk_split(index, test_size=test_size, random_state=seed, stratify=y)
        except ValueError:  # a class too small to appear in both parts
            pass
        else:
            return parts[0], parts[1]
    parts = _sk_split(index, test_size=test_size, random_state=seed)
    return parts[0], parts[1]
