"""Helpers shared by the target adapters: bounds validation, softmax, one-line errors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from aiarmor.core.errors import ConfigError


def check_bounds(bounds: Sequence[float] | None) -> tuple[float, float] | None:
    """``bounds`` as a ``(lo, hi)`` float pair, or ConfigError unless finite with lo < hi."""
    if bounds is None:
        return None
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ConfigError(f"bounds must be two numbers LO,HI, got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ConfigError(f"bounds must be finite with LO < HI, got ({lo:g}, {hi:g})")
    return lo, hi


def check_n_classes(n_classes: int) -> int:
    """``n_classes`` as an int >= 2, or ConfigError."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ConfigError(f"n_classes must be an integer, got {n_classes!r}")
    if n_classes < 2:
        raise ConfigError(f"n_classes must be at least 2, got {n_classes}")
    return int(n_classes)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D array, numerically stable."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return out


def check_scores(scores: np.ndarray, n_rows: int, n_classes: int, who: str) -> np.ndarray:
    """``scores`` if shaped ``(n_rows, n_classes)``, else a ValueError naming ``who``."""
    if scores.shape != (n_rows, n_classes):
        raise ValueError(
            f"{who} returned an array of shape {scores.shape} for {n_rows} input(s); "
            f"expected ({n_rows}, {n_classes})"
        )
    return scores


def one_line(exc: BaseException, width: int = 200) -> str:
    """``Type: first line of message``, printable and at most ``width`` characters."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= width else text[: width - 3] + "..."


def display_name(obj: object) -> str:
    """A readable default name for a model object: its class name."""
    return type(obj).__name__
