"""Stateful detectors of query patterns: black-box evasion attacks and model extraction.

Each detector keeps a small state per (identity, model) in an LRU of at most
``max_identities`` entries, with fixed-size windows, so memory is bounded whatever the
traffic, and the work per query does not grow with the number of clients.

* ``blacklight`` (Li et al., USENIX Security 2022): a query-based attack (Square, HopSkipJump,
  boundary, NES...) queries many near-copies of one input. Each query is quantized, every
  window of ``window`` consecutive values is hashed (a keyed polynomial hash), and the
  ``hashes`` smallest distinct hashes are its fingerprints. A query that shares at least
  ``match`` fingerprints with one of the identity's last ``history`` queries is a
  near-duplicate; the identity is flagged once ``duplicates`` of its recent queries are.
  Score: the number of near-duplicates among the recent queries.
* ``prada`` (Juuti et al., EuroS&P 2019): natural queries have minimum distances to the
  earlier queries of the same client that look normally distributed; extraction attacks that
  synthesize queries (Jacobian-based augmentation, random or perturbed samples) do not. After
  ``min_queries`` distances, the latest ``window`` of them is tested with Shapiro-Wilk
  (scipy) and the identity is flagged when the statistic W falls below ``threshold``.
  Score: ``1 - W`` (0 looks natural). A flagged identity stays flagged (an extraction is a
  campaign; the window may later fill with perturbations that look normal among themselves).
  Differences from the paper: distances go to the last ``history`` queries of the identity
  (not every query ever, split by predicted class), because the gateway runs detectors before
  the model answers and memory must stay bounded; the first ``warmup`` distances (to a
  nearly empty history, hence large) are not used, which removes most false alarms of
  natural streams. Uniform random queries in many dimensions have normal-looking minimum
  distances: this test does not catch them (the budgets and rate limits do).

Per model, a per-input detector may run as well: ``strip`` (:class:`StripDetector`, the
poisoning area's STRIP fitted at start-up on the model's clean reference inputs, configured
under ``[models.strip]``) flags batches with inputs whose prediction a superimposed clean
input barely moves, the mark of a backdoor trigger. Anything with the :class:`QueryDetector`
``observe`` method can be passed to ``create_app(detectors=...)`` or put in
``ServedModel.detectors`` (an out-of-distribution score, say).

Configuration (``[detection.config]`` of gateway.toml): one table per detector, e.g.
``blacklight = { quantization = 0.2, action = "throttle" }``; an empty table enables a
detector with its defaults, an absent one leaves it off. Blacklight's ``quantization`` is in
input units: the default (0.2) suits inputs in [0, 1] (the paper's 50 of 255). Every score is
"higher is more suspicious"; ``action`` (log | alert | throttle | block) is carried in each
verdict for the gateway to apply when ``flagged``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from aiarmor.core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from aiarmor.poisoning.strip import STRIP
    from aiarmor.serving.settings import InputSchema, ModelSettings
    from aiarmor.targets.base import Target

__all__ = [
    "ACTIONS",
    "BlacklightConfig",
    "BlacklightDetector",
    "DetectorVerdict",
    "PradaConfig",
    "PradaDetector",
    "QueryDetector",
    "StripDetector",
    "build_detectors",
    "build_input_detectors",
]

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


# ----------------------------------------------------------------------------- blacklight


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


# ---------------------------------------------------------------------------------- prada


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


def shapiro_w(sample: NDArray[np.float64]) -> float:
    """The Shapiro-Wilk statistic W of ``sample``; 0 when every value is the same (nothing
    natural looks like that).

    From 12 values on, W is the squared correlation of the sorted sample with Royston's
    (1992) coefficients, the algorithm (AS R94) of ``scipy.stats.shapiro``, with the
    coefficients cached per sample size: the test runs every few queries of every identity,
    and scipy recomputes them (about 0.3 ms) on every call. Tested equal to scipy's W.
    """
    values = np.sort(np.asarray(sample, np.float64))
    if float(values[-1] - values[0]) <= 1e-12 * max(1.0, float(np.abs(values).max())):
        return 0.0
    if values.size < 12:
        from scipy import stats

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(stats.shapiro(values).statistic)
    coef = _royston(values.size)
    centred = values - values.mean()
    return float((coef @ centred) ** 2 / (centred @ centred))


@functools.lru_cache(maxsize=16)
def _royston(n: int) -> NDArray[np.float64]:
    """Shapiro-Wilk coefficients for ``n >= 6`` values, antisymmetric, scaled to unit norm."""
    from scipy.special import ndtri

    half = n // 2
    m = ndtri((np.arange(1, half + 1) - 0.375) / (n + 0.25))  # negative normal scores
    summ2 = 2.0 * float(m @ m)
    rsn = 1.0 / math.sqrt(n)
    a1 = np.polyval([-2.706056, 4.434685, -2.07119, -0.147981, 0.221157, 0.0], rsn)
    a1 -= m[0] / math.sqrt(summ2)
    a2 = np.polyval([-3.582633, 5.682633, -1.752461, -0.293762, 0.042981, 0.0], rsn)
    a2 -= m[1] / math.sqrt(summ2)
    fac = math.sqrt((summ2 - 2 * m[0] ** 2 - 2 * m[1] ** 2) / (1 - 2 * a1**2 - 2 * a2**2))
    a = -m / fac
    a[0], a[1] = a1, a2
    full = np.zeros(n)
    full[:half] = -a
    full[n - half :] = a[::-1]
    return full / np.linalg.norm(full)


# --------------------------------------------------------------------------------- config

_DETECTORS: dict[str, tuple[type[Any], Callable[[Any], QueryDetector]]] = {
    "blacklight": (BlacklightConfig, BlacklightDetector),
    "prada": (PradaConfig, PradaDetector),
}
_RANGES: dict[str, tuple[float, float]] = {
    "window": (1, 100_000), "hashes": (1, 10_000), "match": (1, 10_000),
    "history": (1, 100_000), "duplicates": (1, 100_000), "max_identities": (1, 10_000_000),
    "min_queries": (3, 100_000), "warmup": (1, 100_000), "threshold": (0.0, 1.0),
    "quantization": (1e-12, math.inf), "test_every": (1, 100_000),
}  # fmt: skip


class StripDetector:
    """STRIP (:class:`aiarmor.poisoning.STRIP`, fitted on the model's clean reference inputs)
    on every request to one model. Score: how many samples of the batch fall below the
    entropy threshold, i.e. look like they carry a backdoor trigger."""

    name = "strip"

    def __init__(self, fitted: STRIP, action: str) -> None:
        self.strip = fitted
        self.action = action

    def observe(self, identity: str, model: str, x: np.ndarray) -> DetectorVerdict:
        entropy = self.strip.score(_rows(x).reshape(x.shape).astype(np.float32))
        low = int((entropy < self.strip.threshold_).sum())
        reason = (
            f"{low} of {len(entropy)} inputs keep their prediction under superimposition "
            f"(entropy below {self.strip.threshold_:.3f}: a backdoor trigger?)"
        )
        return DetectorVerdict(self.name, float(low), low > 0, reason, self.action)


def build_input_detectors(
    model: ModelSettings, target: Target, base_dir: Path
) -> tuple[QueryDetector, ...]:
    """The per-input detectors ``model`` (a ``ModelSettings``) asks for, fitted on ``target``."""
    cfg = model.strip
    if cfg is None:
        return ()
    from aiarmor.poisoning.strip import STRIP

    where = f"models.{model.name}.strip"
    clean = _reference_inputs(base_dir / cfg.reference, model.input, where)
    fitted = STRIP(n_overlays=cfg.n_overlays, frr=cfg.frr, seed=cfg.seed).fit(target, clean)
    return (StripDetector(fitted, cfg.action),)


def _reference_inputs(path: Path, schema: InputSchema, where: str) -> NDArray[np.float32]:
    """Array ``x`` of an ``.npz`` (never unpickled), checked against the input schema."""
    try:
        with np.load(path, allow_pickle=False) as data:
            x = np.asarray(data["x"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{where}.reference: cannot read array x of {path}: {exc}") from None
    if x.dtype.kind not in "biuf" or x.shape[1:] != tuple(schema.shape) or len(x) < 2:
        raise ConfigError(
            f"{where}.reference: x must be numeric with shape (n >= 2, "
            f"{', '.join(map(str, schema.shape))}); got {x.dtype} {x.shape}"
        )
    if not np.isfinite(x).all():
        raise ConfigError(f"{where}.reference: x holds NaN or infinity")
    lo = -math.inf if schema.min is None else schema.min
    hi = math.inf if schema.max is None else schema.max
    if float(x.min()) < lo or float(x.max()) > hi:
        raise ConfigError(f"{where}.reference: x lies outside the model's input range")
    if float(np.abs(x).max()) > float(np.finfo(np.float32).max):  # would become infinity
        raise ConfigError(f"{where}.reference: x holds values that do not fit float32")
    return x.astype(np.float32)


def build_detectors(config: Mapping[str, Any]) -> list[QueryDetector]:
    """The detectors named in ``config`` (name -> options table), validated."""
    if not isinstance(config, Mapping):
        raise ConfigError("detection.config must be a table of detector tables")
    detectors = []
    for name, options in config.items():
        if name not in _DETECTORS:
            known = ", ".join(sorted(_DETECTORS))
            raise ConfigError(f"detection.config: unknown detector {name!r} (known: {known})")
        config_type, factory = _DETECTORS[name]
        detectors.append(factory(_parse(name, config_type, options)))
    return detectors


def _parse(name: str, config_type: type[Any], options: object) -> Any:
    if not isinstance(options, Mapping):
        raise ConfigError(f"detection.config.{name} must be a table")
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    values = {}
    for key, value in options.items():
        where = f"detection.config.{name}.{key}"
        if key not in fields:
            raise ConfigError(f"{where}: unknown option (known: {', '.join(fields)})")
        values[key] = _check(where, key, value, fields[key].default)
    parsed = config_type(**values)
    if name == "prada" and parsed.min_queries > parsed.window:
        raise ConfigError(f"detection.config.{name}: min_queries must not exceed window")
    if name == "prada" and parsed.warmup > parsed.history:
        raise ConfigError(f"detection.config.{name}: warmup must not exceed history")
    if name == "blacklight" and parsed.match > parsed.hashes:
        raise ConfigError(f"detection.config.{name}: match must not exceed hashes")
    return parsed


def _check(where: str, key: str, value: object, default: object) -> object:
    if key == "action":
        if value not in ACTIONS:
            raise ConfigError(f"{where}: must be one of {', '.join(ACTIONS)}")
        return value
    if key == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}: must be an integer")
        return value
    lo, hi = _RANGES[key]
    if isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not lo <= value <= hi:  # type: ignore[operator]
        kind = "an integer" if isinstance(default, int) else "a number"
        raise ConfigError(f"{where}: must be {kind} in [{lo:g}, {hi:g}]")
    return value
