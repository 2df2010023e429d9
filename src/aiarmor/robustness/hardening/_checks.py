"""Validation of adversarial training's data and settings: one-line errors, before any work."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from aiarmor.core.errors import ConfigError, DataError
from aiarmor.robustness.hardening.inner import eval_mode
from aiarmor.targets._common import one_line


def as_tensors(
    x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, bounds: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` as float32 and ``y`` as int64 tensors; DataError on shapes, NaN or bounds."""
    try:
        xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        yt = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    except (TypeError, ValueError) as exc:
        raise DataError(f"training data must be numeric arrays: {exc}") from None
    if not (xt.is_floating_point() or xt.dtype in _INTS) or yt.dtype not in _INTS:
        raise DataError(f"x must be numeric and y integer labels, got {xt.dtype} and {yt.dtype}")
    if xt.ndim < 2 or yt.ndim != 1 or len(xt) != len(yt) or len(yt) == 0:
        raise DataError(
            f"x must be (n, ...) and y (n,) with n >= 1, got {tuple(xt.shape)} and "
            f"{tuple(yt.shape)}"
        )
    xt = xt.detach().to(torch.float32)
    if not bool(torch.isfinite(xt).all()):
        raise DataError("training data x holds NaN or infinite values")
    lo, hi = bounds
    if float(xt.min()) < lo - 1e-6 or float(xt.max()) > hi + 1e-6:
        raise DataError(
            f"training data lies in {float(xt.min()):g}..{float(xt.max()):g}, outside the "
            f"bounds {lo:g}..{hi:g}"
        )
    if int(yt.min()) < 0:
        raise DataError("labels must be 0..k-1")
    return xt, yt.detach().to(torch.int64)


_INTS = (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)


def check_labels(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """The model must map a sample to ``(1, k)`` logits with every label below ``k``."""
    try:
        with torch.no_grad(), eval_mode(model):
            out = model(x)
    except Exception as exc:  # arbitrary user model code
        shape, why = tuple(x.shape[1:]), one_line(exc)
        raise DataError(f"the model cannot take samples of shape {shape}: {why}") from None
    if out.ndim != 2 or out.shape[1] < 2:
        raise DataError(f"the model returned shape {tuple(out.shape)}; expected (n, n_classes)")
    if int(y.max()) >= out.shape[1]:
        raise DataError(f"label {int(y.max())} is out of range for {out.shape[1]} classes")


def finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    ok = finite(value) and (value >= 0 if allow_zero else value > 0)  # type: ignore[operator]
    if not ok:
        raise ConfigError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, "
                          f"got {value!r}")  # fmt: skip
