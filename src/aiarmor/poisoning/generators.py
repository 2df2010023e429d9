"""Poisoning generators for evaluation and red teams: BadNets, blended triggers, label flips.

Each returns a :class:`PoisonedData` with the poisoned dataset and the exact mask of which
samples were poisoned, so detectors can be scored. The number poisoned is exactly
``round(rate * n)`` (taken from samples not already in the target class for backdoors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiarmor.core.errors import ConfigError
from aiarmor.data.dataset import Dataset


@dataclass(frozen=True, slots=True)
class PoisonedData:
    """A poisoned copy of a dataset and the ground truth of what was poisoned."""

    data: Dataset
    """The poisoned dataset."""
    poisoned: np.ndarray
    """Bool mask over samples: True where the sample was poisoned."""
    target_class: int | None
    """The backdoor's target label (None for untargeted label flips)."""


def _choose(ds: Dataset, rate: float, exclude: int | None, seed: int) -> np.ndarray:
    if not 0.0 < rate < 1.0:
        raise ConfigError(f"rate must be in (0, 1), got {rate}")
    pool = np.flatnonzero(ds.y != exclude) if exclude is not None else np.arange(len(ds))
    k = round(rate * len(ds))
    if k > len(pool):
        raise ConfigError(f"cannot poison {k} samples: only {len(pool)} are eligible")
    return np.sort(np.random.default_rng(seed).choice(pool, k, replace=False))


def _with(ds: Dataset, x: np.ndarray, y: np.ndarray) -> Dataset:
    return Dataset(x=x, y=y, sensitive=ds.sensitive, feature_names=ds.feature_names,
                   name=f"{ds.name} (poisoned)", classes=ds.classes)  # fmt: skip


def badnets_trigger(x: np.ndarray, *, size: int = 3, value: float = 1.0) -> np.ndarray:
    """Stamp a checkerboard patch in the bottom-right corner of images shaped (n, c, h, w)."""
    if x.ndim != 4:
        raise ConfigError("BadNets needs images shaped (n, channels, height, width)")
    out = x.copy()
    h, w = x.shape[2], x.shape[3]
    if size > min(h, w):
        raise ConfigError(f"patch size {size} does not fit images of {h}x{w}")
    board = np.indices((size, size)).sum(axis=0) % 2 == 0
    patch = np.where(board, value, 0.0).astype(x.dtype)
    out[:, :, h - size :, w - size :] = patch
    return out


def badnets(
    ds: Dataset, *, rate: float, target_class: int = 0, size: int = 3, value: float = 1.0,
    seed: int = 0,
) -> PoisonedData:  # fmt: skip
    """BadNets (Gu et al. 2017): a patch trigger on ``rate`` of the samples, relabeled."""
    idx = _choose(ds, rate, target_class, seed)
    x, y = ds.x.copy(), ds.y.copy()
    x[idx] = badnets_trigger(ds.x[idx], size=size, value=value)
    y[idx] = target_class
    mask = np.zeros(len(ds), dtype=bool)
    mask[idx] = True
    return PoisonedData(_with(ds, x, y), mask, target_class)


def blended(
    ds: Dataset, *, rate: float, target_class: int = 0, alpha: float = 0.2, seed: int = 0,
) -> PoisonedData:  # fmt: skip
    """Blended trigger (Chen et al. 2017): a fixed random pattern mixed in with weight alpha."""
    if not 0.0 < alpha <= 1.0:
        raise ConfigError(f"alpha must be in (0, 1], got {alpha}")
    idx = _choose(ds, rate, target_class, seed)
    lo, hi = float(ds.x.min()), float(ds.x.max())
    pattern = np.random.default_rng([seed, 1]).uniform(lo, hi, ds.x.shape[1:]).astype(np.float32)
    x, y = ds.x.copy(), ds.y.copy()
    x[idx] = (1 - alpha) * ds.x[idx] + alpha * pattern
    y[idx] = target_class
    mask = np.zeros(len(ds), dtype=bool)
    mask[idx] = True
    return PoisonedData(_with(ds, x, y), mask, target_class)


def label_flip(ds: Dataset, *, rate: float, seed: int = 0) -> PoisonedData:
    """Random label flipping: ``rate`` of the labels replaced by a different random class."""
    idx = _choose(ds, rate, None, seed)
    k = ds.n_classes
    if k < 2:
        raise ConfigError("label flipping needs at least two classes")
    shift = np.random.default_rng([seed, 2]).integers(1, k, len(idx))
    y = ds.y.copy()
    y[idx] = (y[idx] + shift) % k
    mask = np.zeros(len(ds), dtype=bool)
    mask[idx] = True
    return PoisonedData(_with(ds, ds.x.copy(), y), mask, None)
