"""Core types: findings, reports, policy, the check registry, errors and standards.

This package imports nothing else of aiarmor and no heavy framework.
"""

from aiarmor.core.capability import Capability, DatasetLike, Target
from aiarmor.core.errors import (
    AiarmorError,
    CheckError,
    ConfigError,
    DataError,
    InputError,
    ModelLoadError,
    PolicyError,
    RegistryError,
    UnsafeModelError,
)
from aiarmor.core.findings import (
    Chart,
    CheckOutcome,
    CheckResult,
    CheckStatus,
    Finding,
    Location,
    Series,
    Severity,
)
from aiarmor.core.policy import Policy, Suppression, Threshold, load_policy, parse_policy
from aiarmor.core.registry import (
    Budget,
    Check,
    CheckContext,
    Param,
    get_check,
    register,
    registered,
)
from aiarmor.core.report import SCHEMA_VERSION, Report, Verdict
from aiarmor.core.standards import CATALOGUE, StandardRef, validate_refs

__all__ = [
    "CATALOGUE",
    "SCHEMA_VERSION",
    "AiarmorError",
    "Budget",
    "Capability",
    "Chart",
    "Check",
    "CheckContext",
    "CheckError",
    "CheckOutcome",
    "CheckResult",
    "CheckStatus",
    "ConfigError",
    "DataError",
    "DatasetLike",
    "Finding",
    "InputError",
    "Location",
    "ModelLoadError",
    "Param",
    "Policy",
    "PolicyError",
    "RegistryError",
    "Report",
    "Series",
    "Severity",
    "StandardRef",
    "Suppression",
    "Target",
    "Threshold",
    "UnsafeModelError",
    "Verdict",
    "get_check",
    "load_policy",
    "parse_policy",
    "register",
    "registered",
    "validate_refs",
]
