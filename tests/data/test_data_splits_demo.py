"""train_test_split and the bundled digits demo."""

import numpy as np
import pytest

from aiarmor.core.errors import ConfigError, DataError
from aiarmor.data import Dataset, load_digits_demo, train_test_split


def _dataset(y: list[int]) -> Dataset:
    n = len(y)
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return Dataset(x=x, y=np.array(y, dtype=np.int64), sensitive={"g": np.arange(n)}, name="d")


def test_split_is_a_partition_and_stratified():
    ds = _dataset([0] * 40 + [1] * 20)
    train, test = train_test_split(ds, test_size=0.25, seed=1)
    assert len(train) == 45 and len(test) == 15
    rows = sorted(train.sensitive["g"].tolist() + test.sensitive["g"].tolist())
    assert rows == list(range(60))
    assert np.bincount(test.y).tolist() == [10, 5]
    assert (train.x[:, 0] == train.sensitive["g"] * 2).all()  # rows stay aligned


def test_split_is_reproducible_and_seed_dependent():
    ds = _dataset([0, 1] * 30)
    first = train_test_split(ds, seed=3)[1].sensitive["g"]
    again = train_test_split(ds, seed=3)[1].sensitive["g"]
    other = train_test_split(ds, seed=4)[1].sensitive["g"]
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


def test_split_falls_back_when_a_class_is_too_small():
    train, test = train_test_split(_dataset([0] * 9 + [1]), test_size=0.3)
    assert len(train) + len(test) == 10


def test_split_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="test_size"):
        train_test_split(_dataset([0, 1, 0, 1]), test_size=1.5)
    with pytest.raises(DataError, match="at least 2 samples"):
        train_test_split(_dataset([0]))


def test_digits_demo_shapes_range_and_split():
    train, test = load_digits_demo(seed=0)
    assert train.x.shape == (1347, 1, 8, 8) and test.x.shape == (450, 1, 8, 8)
    assert train.x.dtype == np.float32 and train.y.dtype == np.int64
    both = np.concatenate([train.x, test.x])
    assert both.min() == 0.0 and both.max() == 1.0
    assert train.n_classes == 10 and set(test.y.tolist()) == set(range(10))
    assert train.name == "sklearn digits (8x8)"
    counts = np.bincount(test.y) / len(test)
    assert np.abs(counts - 0.1).max() < 0.02  # stratified
