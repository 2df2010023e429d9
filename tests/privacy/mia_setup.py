"""Shared setup of the membership tests: a table with memorizable records and a recipe."""

import numpy as np
import torch
from torch import nn

from aiarmor.data.dataset import Dataset


def _table(n, seed, noisy=0.3):
    """Well-separated classes plus a share of records with a random label (memorized only
    by a model that trains on them): their confidence says membership, the easy ones' not."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    centers = np.random.default_rng(99).normal(size=(4, 10)) * 4
    x = (centers[y] + rng.normal(size=(n, 10))).astype(np.float32)
    flip = rng.random(n) < noisy
    y[flip] = rng.integers(0, 4, flip.sum())
    return Dataset(x=x, y=y.astype(np.int64), name=f"table{seed}")


def train_mlp(x, y, seed):
    """The training recipe: a small MLP trained full-batch to memorization."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))
            opt = torch.optim.Adam(model.parameters(), lr=0.05)
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            for _ in range(100):
                opt.zero_grad()
                nn.functional.cross_entropy(model(xt), yt).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()
