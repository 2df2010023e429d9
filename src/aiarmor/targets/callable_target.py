"""Any Python callable on NumPy batches as a target."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from aiarmor.core.errors import ConfigError
from aiarmor.targets._common import check_bounds, check_n_classes, check_scores, softmax

Output = Literal["proba", "logits", "labels"]
BatchFn = Callable[[np.ndarray], object]


class CallableLabelTarget:
    """A callable returning one integer label in ``0..n_classes-1`` per input row."""

    def __init__(
        self,
        fn: BatchFn,
        *,
        n_classes: int,
        bounds: Sequence[float] | None = None,
        name: str | None = None,
    ) -> None:
        if not callable(fn):
            raise ConfigError(f"expected a callable, got {type(fn).__name__}")
        self.fn = fn
        self.n_classes = check_n_classes(n_classes)
        self.bounds = check_bounds(bounds)
        self.name: str = name or str(getattr(fn, "__name__", type(fn).__name__))
        self.queries = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n_classes={self.n_classes})"

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The callable's labels, checked to be ``(n,)`` integers in range, as int64."""
        array = np.asarray(x)
        out = np.asarray(self._call(array))
        n = array.shape[0]
        if out.shape != (n,):
            raise ValueError(f"{self.name} returned shape {out.shape} for {n} input(s)")
        if out.dtype.kind not in "iu" or (n and (out.min() < 0 or out.max() >= self.n_classes)):
            raise ValueError(f"{self.name} must return integer labels in 0..{self.n_classes - 1}")
        return out.astype(np.int64)

    def _call(self, array: np.ndarray) -> object:
        """The callable applied to one batch, counted as ``len(array)`` queries."""
        self.queries += int(array.shape[0])
        return self.fn(array)


class CallableTarget(CallableLabelTarget):
    """A callable returning per-class scores: probabilities (``"proba"``) or logits.

    Logits are turned into probabilities with a softmax. :meth:`predict` is the argmax.
    For a callable that returns labels, use :class:`CallableLabelTarget` (or
    :func:`callable_target` with ``output="labels"``).
    """

    def __init__(
        self,
        fn: BatchFn,
        *,
        n_classes: int,
        output: Output = "proba",
        bounds: Sequence[float] | None = None,
        name: str | None = None,
    ) -> None:
        if output not in ("proba", "logits"):
            raise ConfigError(
                f"CallableTarget output must be 'proba' or 'logits', got {output!r}; "
                "a label-only callable is a CallableLabelTarget"
            )
        super().__init__(fn, n_classes=n_classes, bounds=bounds, name=name)
        self.output = output

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, float64, shape ``(n, n_classes)``."""
        array = np.asarray(x)
        out = np.asarray(self._call(array), dtype=np.float64)
        scores = check_scores(out, array.shape[0], self.n_classes, self.name)
        return softmax(scores) if self.output == "logits" else scores

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The argmax of :meth:`predict_proba`, int64."""
        labels: np.ndarray = self.predict_proba(x).argmax(axis=1).astype(np.int64)
        return labels


def callable_target(
    fn: BatchFn,
    *,
    n_classes: int,
    output: Output = "proba",
    bounds: Sequence[float] | None = None,
    name: str | None = None,
) -> CallableLabelTarget:
    """A CallableLabelTarget for ``output="labels"``, else a CallableTarget."""
    if output == "labels":
        return CallableLabelTarget(fn, n_classes=n_classes, bounds=bounds, name=name)
    return CallableTarget(fn, n_classes=n_classes, output=output, bounds=bounds, name=name)
