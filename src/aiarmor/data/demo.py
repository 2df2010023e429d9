"""Bundled demo data: real data that ships inside an installed package (no download)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from aiarmor.data.dataset import Dataset
from aiarmor.data.splits import train_test_split

DIGITS_NAME = "sklearn digits (8x8)"


def load_digits_demo(seed: int = 0) -> tuple[Dataset, Dataset]:
    """scikit-learn's 1,797 handwritten 8x8 digits as (train, test), stratified 75/25.

    Pixels are scaled from 0..16 to [0, 1] and shaped ``(n, 1, 8, 8)`` float32 (one grey
    channel), so the natural input bounds are ``(0, 1)``; labels are the digits 0-9.
    """
    bunch = load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    full = Dataset(x=x, y=y, name=DIGITS_NAME)
    return train_test_split(full, test_size=0.25, seed=seed, stratify=True)
