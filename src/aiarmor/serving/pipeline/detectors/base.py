"""What every detector shares: :class:`DetectorVerdict`, the :class:`QueryDetector` protocol,
and the bounded state behind them (an LRU of per-(identity, model) states, ring buffers of
fixed size, a request batch as float rows). Each detector's module says what its score means.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from aiarmor.core.errors import DataError

__all__ = ["ACTIONS", "DetectorVerdict", "QueryDetector"]

ACTIONS = ("log", "alert", "throttle", "block")
"""What the gateway may do when a detector flags an identity, mildest first."""


@dataclass(frozen=True, slots=True)
class DetectorVerdict:
    """A detector's view of one identity after one request."""

    name: str
    """Detector name ("blacklight", "prada")."""
    score: float
    """Higher is more suspicious; its scale is the detector's (see the module docstring)."""
    flagged: bool
    """The score crossed the detector's threshold."""
    reason: str
    """One line for logs and alerts (no input values)."""
    action: str = "log"
    """The configured action (log | alert | throttle | block), to apply when ``flagged``."""


class QueryDetector(Protocol):
    """Anything that watches the queries of each (identity, model)."""

    name: str

    def observe(self, identity: str, model: str, x: np.ndarray) -> DetectorVerdict:
        """Account for one request's batch ``x`` (first axis: samples); the verdict after it."""
        ...


S = TypeVar("S")


class _States(Generic[S]):
    """Per-(identity, model) states, least recently used evicted beyond ``limit``."""

    def __init__(self, factory: Callable[[], S], limit: int) -> None:
        self._factory = factory
        self._limit = limit
        self._items: OrderedDict[tuple[str, str], S] = OrderedDict()

    def get(self, identity: str, model: str) -> S:
        key = (identity, model)
        state = self._items.get(key)
        if state is None:
            state = self._items[key] = self._factory()
            if len(self._items) > self._limit:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return state

    def __len__(self) -> int:
        return len(self._items)


class _Ring:
    """A ring buffer of ``capacity`` rows, allocated by doubling as it fills."""

    __slots__ = ("capacity", "filled", "pos", "rows")

    def __init__(self, capacity: int, width: int, dtype: type[np.generic]) -> None:
        self.rows: NDArray[Any] = np.zeros((min(8, capacity), width), dtype)
        self.capacity = capacity
        self.filled = 0
        self.pos = 0

    def view(self) -> NDArray[Any]:
        """The rows stored so far (in slot order, not time order)."""
        return self.rows[: self.filled]

    def widen(self, width: int, fill: Any) -> None:
        """Make rows ``width`` wide, new cells set to ``fill``."""
        extra = width - self.rows.shape[1]
        self.rows = np.pad(self.rows, ((0, 0), (0, extra)), constant_values=fill)

    def push(self, row: NDArray[Any]) -> int:
        """Store ``row`` over the oldest one once full; returns its slot."""
        if self.filled < self.capacity:
            if self.filled == len(self.rows):
                size = min(2 * self.filled, self.capacity)
                self.rows = np.resize(self.rows, (size, self.rows.shape[1]))
            self.pos = self.filled
            self.filled += 1
        else:
            self.pos = (self.pos + 1) % self.capacity
        self.rows[self.pos] = row
        return self.pos


def _rows(x: np.ndarray) -> NDArray[np.float64]:
    """The batch as finite float rows (one sample per row)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        raise DataError("detectors need a non-empty numeric batch")
    rows = arr.reshape(1, -1) if arr.ndim <= 1 else arr.reshape(arr.shape[0], -1)
    rows = rows.astype(np.float64, copy=False)
    if not np.isfinite(rows).all():
        raise DataError("detectors need finite inputs")
    return rows
