"""Probes for ``robustness.input_validation``: malformed and out-of-domain input batches.

Each probe is a batch a deployed model may receive (non-finite values, huge or out-of-range
values, noise, benign dtype variants, an empty batch, a wrong shape, strings); ``run_probe``
sends one to a target and classifies what the model did with it.
"""

from __future__ import annotations

import enum
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiarmor.targets.base import ScoreTarget

_HUGE = 1e30
_FAR = 100.0
"""How many domain widths out of bounds the ``out_of_bounds`` probe goes."""
_SUM_TOLERANCE = 1e-3
_NAN = float("nan")


class ProbeKind(enum.Enum):
    """What a probe represents, which decides how its outcome is judged."""

    NON_FINITE = "non_finite"
    """NaN or infinite values: should be rejected."""
    OUT_OF_DOMAIN = "out_of_domain"
    """Finite garbage far from the data: a confident answer is overconfidence."""
    BENIGN = "benign"
    """A plausible input (all zeros): observed only."""
    VALID_VARIANT = "valid_variant"
    """A valid request in another encoding (float64, int, empty batch): must not crash."""
    MALFORMED = "malformed"
    """Wrong shape or type: should be rejected."""


class Outcome(enum.StrEnum):
    """How the target handled one probe."""

    REJECTED = "rejected"
    """The target raised."""
    NAN_OUTPUT = "nan_output"
    """The answer holds NaN or infinite values."""
    CONFIDENT = "confident"
    """A garbage probe answered with confidence at or above the threshold."""
    ANSWERED = "answered"
    """A well-formed, finite answer (not confident when the probe is garbage)."""
    BAD_OUTPUT = "bad_output"
    """The answer has the wrong shape, is not numeric, or is not a probability vector."""


_GARBAGE = (ProbeKind.NON_FINITE, ProbeKind.OUT_OF_DOMAIN)


@dataclass(frozen=True, slots=True)
class Probe:
    """One malformed or out-of-domain batch."""

    name: str
    """Stable name, used in metric keys (``max_confidence.<name>``)."""
    kind: ProbeKind
    """What it represents."""
    description: str
    """What the batch holds, in words (reports never show the values)."""
    x: np.ndarray
    """The batch sent to the target."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """How the target handled one probe."""

    name: str
    """The probe's name."""
    kind: ProbeKind
    """The probe's kind."""
    description: str
    """The probe's description."""
    outcome: Outcome
    """The classified outcome."""
    max_confidence: float
    """Largest top-label probability over rows with finite scores (NaN when none)."""
    error: str | None = None
    """Type name of the exception the target raised, if any."""

    def evidence(self) -> dict[str, Any]:
        """JSON-ready evidence: outcome, confidence, exception type; never input values."""
        return {
            "description": self.description,
            "outcome": self.outcome.value,
            "max_confidence": self.max_confidence,
            "error": self.error,
        }


def build_probes(
    x: np.ndarray, domain: tuple[float, float], rng: np.random.Generator
) -> tuple[Probe, ...]:
    """The probe batches, built from real samples ``x`` of any sample shape.

    ``domain`` is the valid input range ``(lo, hi)``; ``rng`` places the corrupted element of
    each sample and draws the noise, so the probes depend only on the seed.
    """
    lo, hi = domain
    n, shape = x.shape[0], x.shape
    column = rng.integers(0, int(np.prod(shape[1:])), size=n)
    sign = rng.choice(np.array([-1.0, 1.0]), size=shape)
    noise = rng.uniform(lo, hi, size=shape)

    def one(value: float) -> np.ndarray:
        flat = x.reshape(n, -1).copy()
        flat[np.arange(n), column] = value
        return flat.reshape(shape)

    nf, ood, valid = ProbeKind.NON_FINITE, ProbeKind.OUT_OF_DOMAIN, ProbeKind.VALID_VARIANT
    return (
        Probe("nan_one", nf, "one element of each sample set to NaN", one(_NAN)),
        Probe("nan_all", nf, "every element NaN", np.full(shape, _NAN, dtype=x.dtype)),
        Probe("pos_inf", nf, "one element of each sample set to +inf", one(math.inf)),
        Probe("neg_inf", nf, "one element of each sample set to -inf", one(-math.inf)),
        Probe("huge", ood, "one element of each sample set to 1e30", one(_HUGE)),
        Probe("negative_huge", ood, "one element of each sample set to -1e30", one(-_HUGE)),
        Probe(
            "out_of_bounds",
            ood,
            f"each element moved {_FAR:g} domain widths below or above [{lo:g}, {hi:g}]",
            (x + sign * _FAR * (hi - lo)).astype(x.dtype),
        ),
        Probe(
            "random_noise",
            ood,
            f"uniform noise over [{lo:g}, {hi:g}]",
            noise.astype(x.dtype),
        ),
        Probe("constant_zero", ProbeKind.BENIGN, "every element 0", np.zeros_like(x)),
        Probe("wrong_dtype_float64", valid, "real samples as float64", x.astype(np.float64)),
        Probe("wrong_dtype_int", valid, "real samples rounded to int64", _as_int(x)),
        Probe("empty_batch", valid, "a batch of 0 samples", x[:0].copy()),
        Probe("wrong_shape", ProbeKind.MALFORMED, _wrong_shape_text(shape), _wrong_shape(x)),
        Probe("strings", ProbeKind.MALFORMED, "an object array of strings", _strings(shape)),
    )


def _as_int(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.rint(x), dtype=np.int64)


def _wrong_shape(x: np.ndarray) -> np.ndarray:
    """Channels moved last for images ((n, c, h, w) -> (n, h, w, c)), else one extra feature."""
    if x.ndim >= 4:
        moved = np.moveaxis(x, 1, -1)
        if moved.shape != x.shape:
            return np.ascontiguousarray(moved)
    pad = [(0, 0)] * (x.ndim - 1) + [(0, 1)]
    return np.asarray(np.pad(x, pad))


def _wrong_shape_text(shape: tuple[int, ...]) -> str:
    wrong = _wrong_shape(np.zeros((1, *shape[1:]), dtype=np.float32)).shape[1:]
    return f"samples of shape {wrong} instead of {tuple(shape[1:])}"


def _strings(shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    out.fill("not-a-number")
    return out


def run_probe(target: Any, probe: Probe, threshold: float) -> ProbeResult:
    """Query the target with one probe; any exception is caught and recorded by type name.

    Warnings raised while the model handles garbage (overflow, invalid value) are silenced:
    they are expected, and the outcome records what matters.
    """
    scores = isinstance(target, ScoreTarget)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = target.predict_proba(probe.x) if scores else target.predict(probe.x)
    except Exception as exc:  # any failure of the model is an observation, never a crash
        return _result(probe, Outcome.REJECTED, _NAN, type(exc).__name__)
    n, k = probe.x.shape[0], int(target.n_classes)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if scores:
                outcome, confidence = _judge_scores(raw, n, k, probe.kind, threshold)
            else:
                outcome, confidence = _judge_labels(raw, n, k), _NAN
    except Exception:  # an answer numpy cannot even read is a bad output
        outcome, confidence = Outcome.BAD_OUTPUT, _NAN
    return _result(probe, outcome, confidence, None)


def _result(probe: Probe, outcome: Outcome, confidence: float, error: str | None) -> ProbeResult:
    return ProbeResult(probe.name, probe.kind, probe.description, outcome, confidence, error)


def _judge_scores(
    raw: Any, n: int, k: int, kind: ProbeKind, threshold: float
) -> tuple[Outcome, float]:
    out = np.asarray(raw, dtype=np.float64)
    if out.shape != (n, k):
        return Outcome.BAD_OUTPUT, _NAN
    finite_rows = np.isfinite(out).all(axis=1)
    confidence = float(out[finite_rows].max()) if finite_rows.any() else _NAN
    if not finite_rows.all():
        return Outcome.NAN_OUTPUT, confidence
    if (out < -_SUM_TOLERANCE).any() or not np.allclose(out.sum(axis=1), 1.0, atol=_SUM_TOLERANCE):
        return Outcome.BAD_OUTPUT, confidence
    if kind in _GARBAGE and confidence >= threshold:
        return Outcome.CONFIDENT, confidence
    return Outcome.ANSWERED, confidence


def _judge_labels(raw: Any, n: int, k: int) -> Outcome:
    out = np.asarray(raw)
    if out.shape != (n,) or out.dtype.kind not in "iuf":
        return Outcome.BAD_OUTPUT
    if not np.isfinite(out).all():
        return Outcome.NAN_OUTPUT
    if (out != np.rint(out)).any() or (out < 0).any() or (out >= k).any():
        return Outcome.BAD_OUTPUT
    return Outcome.ANSWERED
