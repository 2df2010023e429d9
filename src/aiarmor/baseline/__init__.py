"""Baseline checks: how well the model works before anyone attacks it.

Importing this package registers its checks.
"""

from aiarmor.baseline.calibration import (
    ReliabilityBins,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
)
from aiarmor.baseline.performance import PerformanceCheck

__all__ = [
    "PerformanceCheck",
    "ReliabilityBins",
    "expected_calibration_error",
    "negative_log_likelihood",
    "reliability_bins",
]
