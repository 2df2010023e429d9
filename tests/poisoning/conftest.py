"""Real data for the poisoning tests: Debian's Fashion-MNIST, when it is installed."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from aiarmor.data.dataset import Dataset

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _idx(name: str) -> np.ndarray:
    raw = gzip.decompress((FASHION / name).read_bytes())
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


def _split(prefix: str, n: int) -> Dataset:
    x = _idx(f"{prefix}-images-idx3-ubyte.gz")[:n].astype(np.float32)[:, None] / 255
    return Dataset(x=x, y=_idx(f"{prefix}-labels-idx1-ubyte.gz")[:n].astype(np.int64))


@pytest.fixture
def fashion():
    """``load(n_train, n_test)``: the first Fashion-MNIST images in [0, 1] (skips without it)."""
    if not FASHION.is_dir():
        if os.environ.get("AIARMOR_REQUIRE_FASHION_MNIST") == "1":
            pytest.fail(f"AIARMOR_REQUIRE_FASHION_MNIST=1 but {FASHION} is missing")
        pytest.skip("needs Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)")
    return lambda n_train, n_test: (_split("train", n_train), _split("t10k", n_test))
