"""Fixtures for the fairness tests: planted decisions and a small sample of Adult."""

import numpy as np
import pytest

from aiarmor.data.adult import load_adult
from aiarmor.data.dataset import Dataset
from aiarmor.scenarios.credit import build_credit_model


class PlantedTarget:
    """A label-only target whose decisions are planted: column 0 of x is the row id."""

    def __init__(self, decisions: np.ndarray, n_classes: int = 2) -> None:
        self.decisions = np.asarray(decisions, dtype=np.int64)
        self.name = "planted"
        self.n_classes = n_classes
        self.bounds = None
        self.queries = 0

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.queries += len(x)
        return self.decisions[np.asarray(x)[:, 0].astype(np.int64)]


def planted(groups, labels, decisions, *, extra=None, name="planted"):
    """A Dataset whose feature 0 is the row id, with sensitive attribute(s) ``groups``."""
    n = len(labels)
    x = np.arange(n, dtype=np.float32)[:, None]
    sensitive = {"sex": np.asarray(groups)} if not isinstance(groups, dict) else groups
    data = Dataset(x=x, y=np.asarray(labels, dtype=np.int64), sensitive=sensitive, name=name)
    return PlantedTarget(decisions), data


def rates_data(rng, spec):
    """Groups with given (size, base rate, selection rate): labels and planted decisions."""
    groups, labels, decisions = [], [], []
    for name, (size, base, selected) in spec.items():
        groups += [name] * size
        labels.append((rng.random(size) < base).astype(np.int64))
        decisions.append((rng.random(size) < selected).astype(np.int64))
    return np.array(groups), np.concatenate(labels), np.concatenate(decisions)


@pytest.fixture(scope="session")
def adult_small():
    """3,000 training and 3,000 test records of Adult and the scenario model fitted on them."""
    train, test = load_adult()
    rng = np.random.default_rng(0)
    train = train.subset(np.sort(rng.choice(len(train), 3000, replace=False)))
    test = test.subset(np.sort(rng.choice(len(test), 3000, replace=False)))
    model = build_credit_model().fit(train.x, train.y)
    return model, train, test
