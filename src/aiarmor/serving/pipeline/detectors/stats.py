"""The Shapiro-Wilk normality statistic, as PRADA runs it on every few queries."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from numpy.typing import NDArray

__all__ = ["shapiro_w"]


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
