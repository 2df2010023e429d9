"""PRADA (Juuti et al., EuroS&P 2019), a detector of model extraction.

Natural queries have minimum distances to the earlier queries of the same client that look
normally distributed; extraction attacks that synthesize queries (Jacobian-based augmentation,
random or perturbed samples) do not. After ``min_queries`` distances, the latest ``window`` of
them is tested with Shapiro-Wilk (:func:`~.stats.shapiro_w`) and the identity is flagged when
the statistic W falls below ``threshold``. Score: ``1 - W`` (0 looks natural). A flagged
identity stays flagged (an extraction is a campaign; the window may later fill with
perturbations that look normal among themselves).

Differences from the paper: distances go to the last ``history`` queries of the identity (not
every query ever, split by predicted class), because the gateway runs detectors before the
model answers and memory must stay bounded; the first ``warmup`` distances (to a nearly empty
history, hence large) are not used, which removes most false alarms of natural streams.
Uniform random queries in many dimensions have normal-looking minimum distances: this test
does not catch them (the budgets and rate limits do).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from aiarmor.core.errors import DataError
from aiarmor.serving.pipeline.detectors.base import DetectorVerdict, _Ring, _rows, _States
from aiarmor.serving.pipeline.detectors.stats import shapiro_w

__all__ = ["PradaConfig", "PradaDetector"]


@dataclass(frozen=True, slots=True)
class PradaConfig:
    """Parameters of :class:`PradaDetector`."""

    threshold: float = 0.90
    min_queries: int = 100
    warmup: int = 10
    test_every: int = 10
    window: int = 200
    history: int = 256
    max_identities: int = 1024
    action: str = "alert"


class _PradaState:
    __slots__ = ("dists", "flagged", "n_dists", "norms", "queries", "seen", "tested", "w")

    def __init__(self, window: int, history: int) -> None:
        self.queries: _Ring | None = None  # created with the first query (its width)
        self.norms = np.zeros(history)  # squared norms of the stored queries, by slot
        self.dists = np.zeros(window)
        self.n_dists = 0
        self.seen = 0
        self.flagged = ""  # the reason of the first flag: a flagged identity stays flagged
        self.tested = 0  # n_dists at the last test
        self.w = 1.0


class PradaDetector:
    """Normality of minimum query distances per identity; see the module docstring."""

    name = "prada"

    def __init__(self, config: PradaConfig | None = None) -> None:
        self.config = cfg = config or PradaConfig()
        self._states = _States(lambda: _PradaState(cfg.window, cfg.history), cfg.max_identities)
        self._lock = threading.Lock()

    def observe(self, identity: str, model: str, x: np.ndarray) -> DetectorVerdict:
        rows = np.clip(_rows(x), -1e15, 1e15).astype(np.float32)  # float32 dots cannot overflow
        cfg = self.config
        with self._lock:
            state = self._states.get(identity, model)
            for row in rows:
                self._add(state, row)
            n = min(state.n_dists, cfg.window)
            if n < cfg.min_queries:
                reason = f"{n} distances so far (tests from {cfg.min_queries})"
                return DetectorVerdict(self.name, 0.0, bool(state.flagged), reason, cfg.action)
            if state.tested == 0 or state.n_dists - state.tested >= cfg.test_every:
                state.w, state.tested = shapiro_w(state.dists[:n]), state.n_dists
            w = state.w
            reason = (
                f"Shapiro-Wilk W={w:.3f} over {n} minimum distances (flag below {cfg.threshold})"
            )
            if w < cfg.threshold and not state.flagged:
                state.flagged = f"flagged at query {state.seen}: {reason}"
            if state.flagged and w >= cfg.threshold:
                reason = f"{reason}; {state.flagged}"
            return DetectorVerdict(self.name, 1.0 - w, bool(state.flagged), reason, cfg.action)

    def _add(self, state: _PradaState, row: NDArray[np.float32]) -> None:
        cfg = self.config
        if state.queries is None:
            state.queries = _Ring(cfg.history, row.size, np.float32)
        elif state.queries.rows.shape[1] != row.size:  # the model's input shape changed
            raise DataError("prada: query size differs from this identity's earlier queries")
        state.seen += 1
        norm = float(row.astype(np.float64) @ row)
        if state.queries.filled >= cfg.warmup:  # |a - b|^2 = |a|^2 + |b|^2 - 2ab
            stored = state.queries.view()
            # einsum, not BLAS: a threaded gemv stalls for milliseconds on a busy machine
            dots = np.einsum("ij,j->i", stored, row)
            nearest = stored[int(np.argmin(state.norms[: len(stored)] - 2.0 * dots))]
            exact = nearest.astype(np.float64) - row  # float32 cancellation: recompute the one
            state.dists[state.n_dists % cfg.window] = math.sqrt(float(exact @ exact))
            state.n_dists += 1
        state.norms[state.queries.push(row)] = norm
