"""aiarmor: keep machine-learning models secure over their whole life."""

from aiarmor.core import (
    AiarmorError,
    Budget,
    Check,
    CheckResult,
    CheckStatus,
    Finding,
    Policy,
    Report,
    Severity,
    Verdict,
    load_policy,
)

__version__ = "0.1.0"

__all__ = [
    "AiarmorError",
    "Budget",
    "Check",
    "CheckResult",
    "CheckStatus",
    "Finding",
    "Policy",
    "Report",
    "Severity",
    "Verdict",
    "__version__",
    "load_policy",
]
