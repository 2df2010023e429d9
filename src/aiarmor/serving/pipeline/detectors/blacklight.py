"""Blacklight (Li et al., USENIX Security 2022), a detector of query-based evasion attacks.

A query-based attack (Square, HopSkipJump, boundary, NES...) queries many near-copies of one
input. Each query is quantized, every window of ``window`` consecutive values is hashed (a
keyed polynomial hash), and the ``hashes`` smallest distinct hashes are its fingerprints. A
query that shares at least ``match`` fingerprints with one of the identity's last ``history``
queries is a near-duplicate; the identity is flagged once ``duplicates`` of its recent queries
are. Score: the number of near-duplicates among the recent queries. ``quantization`` is in
input units: the default (0.2) suits inputs in [0, 1] (the paper's 50 of 255).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from aiarmor.serving.pipeline.detectors.base import DetectorVerdict, _Ring, _rows, _States

__all__ = ["BlacklightConfig", "BlacklightDetector"]


@dataclass(frozen=True, slots=True)
class BlacklightConfig:
    """Parameters of :class:`BlacklightDetector` (defaults: the paper's, for [0, 1] inputs)."""

    quantization: float = 0.2
    window: int = 20
    hashes: int = 50
    match: int = 25
    history: int = 128
    duplicates: int = 5
    max_identities: int = 2048
    action: str = "alert"
    seed: int | None = None


_MASK = 4095
"""Fingerprints are uniform hashes, so their low bits index a direct-mapped table; two of one
query's fingerprints sharing a slot (rare) only lowers a match count by one."""
_PAD = 2
_SHIFT = np.uint64(33)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_HIGH = np.uint64(32)
"""Fills unused fingerprint cells: even, while fingerprints are odd and the table holds 0."""


@functools.lru_cache(maxsize=64)
def _powers(base: int, size: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """``base**i`` and ``base**-i`` modulo 2**64 for i < size (``base`` odd, so invertible)."""

    def series(factor: int) -> NDArray[np.uint64]:
        steps = np.full(size, factor, np.uint64)
        steps[0] = 1
        with np.errstate(over="ignore"):
            return np.cumprod(steps, dtype=np.uint64)

    return series(base), series(pow(base, -1, 2**64))


class _BlacklightState:
    __slots__ = ("fps", "near")

    def __init__(self, history: int) -> None:
        # one row per stored query, as wide as the most fingerprints a query has had (a
        # 32-value query has 13 windows of 20: storing 13 columns, not ``hashes``, makes the
        # match 4x cheaper); created with the first query
        self.fps: _Ring | None = None
        self.near = np.zeros(history, bool)


class BlacklightDetector:
    """Near-duplicate queries per identity; see the module docstring."""

    name = "blacklight"

    def __init__(self, config: BlacklightConfig | None = None) -> None:
        self.config = cfg = config or BlacklightConfig()
        rng = np.random.default_rng(cfg.seed)  # the hash is keyed: no precomputed collisions
        self._base = int(rng.integers(1, 2**63)) * 2 + 1  # odd: invertible modulo 2**64
        self._states = _States(lambda: _BlacklightState(cfg.history), cfg.max_identities)
        self._lock = threading.Lock()
        self._table = np.zeros(_MASK + 1, np.uint32)

    def fingerprints(self, row: NDArray[np.float64]) -> NDArray[np.uint32]:
        """The sorted distinct fingerprints (at most ``hashes``) of one flattened query."""
        cfg = self.config
        cells = np.floor(row / cfg.quantization)
        q = np.clip(cells, -(2.0**62), 2.0**62, out=cells).astype(np.int64).view(np.uint64)
        win = min(cfg.window, q.size)
        up, down = _powers(self._base, q.size + 1)
        # rolling polynomial hash, O(size) for any window; integer arrays wrap modulo 2**64
        # silently (no errstate: its exit costs more than the hash under asyncio)
        prefix = np.zeros(q.size + 1, np.uint64)
        np.cumsum(q * up[: q.size], out=prefix[1:])
        h = (prefix[win:] - prefix[:-win]) * down[: q.size - win + 1]
        h ^= h >> _SHIFT
        h *= _MIX
        h ^= h >> _SHIFT
        fps = (h >> _HIGH).astype(np.uint32) | np.uint32(1)
        fps.sort()
        distinct = np.empty(fps.size, bool)  # np.unique, without its overhead (~5 us)
        distinct[0] = True
        np.not_equal(fps[1:], fps[:-1], out=distinct[1:])
        return fps[distinct][: cfg.hashes]

    def observe(self, identity: str, model: str, x: np.ndarray) -> DetectorVerdict:
        prints = [self.fingerprints(row) for row in _rows(x)]  # outside the lock
        with self._lock:
            state = self._states.get(identity, model)
            for fps in prints:
                self._add(state, fps)
            count, filled = int(state.near.sum()), state.fps.filled if state.fps else 0
        cfg = self.config
        flagged = count >= cfg.duplicates
        reason = (
            f"{count} of the last {filled} queries are near-duplicates of earlier ones "
            f"(flag at {cfg.duplicates})"
        )
        return DetectorVerdict(self.name, float(count), flagged, reason, cfg.action)

    def _add(self, state: _BlacklightState, fps: NDArray[np.uint32]) -> None:
        """Match ``fps`` against the stored queries, then store it (ring buffer)."""
        cfg = self.config
        if state.fps is None:
            state.fps = _Ring(cfg.history, fps.size, np.uint32)
        elif state.fps.rows.shape[1] < fps.size:  # a longer query than before: widen
            state.fps.widen(fps.size, _PAD)
        stored = state.fps.view()
        near = False
        if len(stored):  # membership through a direct-mapped table of the new fingerprints
            self._table[fps & _MASK] = fps
            shared = (self._table[stored & _MASK] == stored).sum(axis=1)
            self._table[fps & _MASK] = 0
            near = int(shared.max()) >= min(cfg.match, fps.size)
        padded = np.full(state.fps.rows.shape[1], _PAD, np.uint32)
        padded[: fps.size] = fps
        state.near[state.fps.push(padded)] = near
