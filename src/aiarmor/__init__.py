"""aiarmor: keep machine-learning models secure over their whole life.

The top-level names are the stable public API; areas (``aiarmor.targets``, ``aiarmor.data``,
``aiarmor.reporting``, ...) are importable on their own.
"""

from aiarmor._version import __version__
from aiarmor.audit import audit
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
    "audit",
    "load_policy",
]
