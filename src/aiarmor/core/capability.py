"""What a check or an attack needs, and the minimal shapes of a target and a dataset.

A :class:`Capability` is one thing a check (``Check.requires``) or an attack (``Attack.needs``)
cannot work without. Some are about the **target** (how much of the model we can see: labels,
scores, gradients, internal representations), the others about the **data** the audit was
given (a training set, sensitive attributes, tabular features). The orchestrator compares a
check's requirements with what the target and data offer and skips the check, with the
capability's own reason, before the check is even built; a check only tests what is not a
capability (a class-count range, enough samples).

:class:`Target` and :class:`DatasetLike` are the structural types core sees (core imports
nothing else of aiarmor): :mod:`aiarmor.targets` adds the score and differentiable protocols
and finds which target capabilities an object has; :class:`aiarmor.data.Dataset` is the
dataset every loader builds.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np


class Capability(enum.StrEnum):
    """One thing a check or an attack needs; ``about`` says whether of the target or the data."""

    LABELS = "labels"
    """Target: answers label queries (every target; black-box access)."""
    SCORES = "scores"
    """Target: also returns class probabilities."""
    GRADIENTS = "gradients"
    """Target: logits differentiable with respect to the input (a PyTorch model)."""
    REPRESENTATIONS = "representations"
    """Target: its internal (penultimate-layer) representations can be read (a PyTorch model)."""
    TRAIN = "train"
    """Data: a training set was given (``--train``)."""
    SENSITIVE = "sensitive"
    """Data: the evaluation data carry sensitive attributes."""
    TABULAR = "tabular"
    """Data: the evaluation data are tabular, one value per feature per sample."""

    @property
    def about(self) -> str:
        """``"target"`` or ``"data"``: what has to offer this capability."""
        return "data" if self in _DATA else "target"

    @property
    def missing(self) -> str:
        """The reason a check that needs this capability is skipped when it is missing."""
        return _MISSING[self]


_DATA = frozenset({Capability.TRAIN, Capability.SENSITIVE, Capability.TABULAR})

_MISSING = {
    Capability.LABELS: "the target does not answer label queries",
    Capability.SCORES: "the target does not return class scores (probabilities)",
    Capability.GRADIENTS: "the target has no gradients (needs a differentiable PyTorch model)",
    Capability.REPRESENTATIONS: "the target exposes no internal representations (needs a "
    "PyTorch model to read its penultimate layer from)",
    Capability.TRAIN: "no training data given (--train)",
    Capability.SENSITIVE: "the data has no sensitive attributes (give --sensitive COL for a "
    "table, or sensitive_<name> arrays in an .npz file)",
    Capability.TABULAR: "the data are not tabular features (one value per feature per sample)",
}


@runtime_checkable
class Target(Protocol):
    """Label-only, query-counted access to a classifier: what every target offers."""

    name: str
    """A human name for the model (shown in reports)."""
    n_classes: int
    """Number of classes it predicts."""
    bounds: tuple[float, float] | None
    """The valid input domain (``--bounds``), or None when unknown."""
    queries: int
    """Samples sent to the model so far (each row of a batch counts once)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels, shape ``(n,)``, dtype int64."""
        ...


@runtime_checkable
class DatasetLike(Protocol):
    """What the orchestrator and the checks read of a dataset.

    :class:`aiarmor.data.Dataset` is the implementation; core types ``CheckContext.data`` and
    ``CheckContext.train`` with this protocol because it imports nothing else of aiarmor.
    """

    @property
    def x(self) -> np.ndarray:
        """Features, one sample per row of the first axis."""
        ...

    @property
    def y(self) -> np.ndarray:
        """Integer labels, shape ``(n,)``."""
        ...

    @property
    def sensitive(self) -> Mapping[str, np.ndarray]:
        """Sensitive attributes by name, each shape ``(n,)``."""
        ...

    @property
    def name(self) -> str:
        """Where it came from."""
        ...

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        ...

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample."""
        ...

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        """Column names for tabular data, else None."""
        ...

    @property
    def classes(self) -> tuple[str, ...] | None:
        """Original class labels, index-aligned with ``0..k-1``, when labels were encoded."""
        ...

    @property
    def table(self) -> Any:
        """The table as read (a pandas DataFrame, row-aligned with ``x``), else None.

        Typed loosely so core does not import pandas.
        """
        ...

    def subset(self, index: np.ndarray) -> DatasetLike:
        """The rows selected by an index or boolean mask, as a new dataset."""
        ...

    def __len__(self) -> int:
        """Number of samples."""
        ...


def data_capabilities(data: DatasetLike, train: DatasetLike | None) -> frozenset[Capability]:
    """The data capabilities an audit's evaluation data and training data offer."""
    caps = set()
    if train is not None:
        caps.add(Capability.TRAIN)
    if data.sensitive:
        caps.add(Capability.SENSITIVE)
    if len(data.sample_shape) == 1:
        caps.add(Capability.TABULAR)
    return frozenset(caps)


def unmet(
    requires: tuple[Capability, ...], available: frozenset[Capability]
) -> tuple[Capability, ...]:
    """The required capabilities not available, in the order they were declared."""
    return tuple(c for c in requires if c not in available)
