"""Dataset satisfies core's DatasetLike protocol, the type of CheckContext.data and .train."""

import numpy as np
import pandas as pd

from aiarmor.core import DatasetLike
from aiarmor.data import Dataset


def _dataset() -> Dataset:
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    table = pd.DataFrame({"a": [1, 2, 3, 4], "b": ["p", "q", "r", "s"]})
    return Dataset(x=x, y=np.array([0, 1, 0, 1], dtype=np.int64), feature_names=("a", "b"),
                   classes=("no", "yes"), table=table, name="d")  # fmt: skip


def test_dataset_and_its_subsets_are_dataset_like():
    ds = _dataset()
    assert isinstance(ds, DatasetLike)
    assert isinstance(ds.subset(np.array([0, 2])), DatasetLike)


def test_an_object_missing_a_member_is_not_dataset_like():
    class ArraysOnly:
        x = np.zeros((2, 2), dtype=np.float32)
        y = np.zeros(2, dtype=np.int64)

    assert not isinstance(ArraysOnly(), DatasetLike)
