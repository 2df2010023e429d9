"""The built-in checks: importing their modules registers them."""

from __future__ import annotations

import importlib

BUILTIN_CHECK_MODULES: tuple[str, ...] = (
    "aiarmor.baseline.performance",
    "aiarmor.robustness.input_validation",
    "aiarmor.robustness.evasion",
    "aiarmor.privacy.membership",
    "aiarmor.privacy.extraction",
    "aiarmor.privacy.pii_check",
    "aiarmor.datachecks.label_issues",
    "aiarmor.datachecks.duplicates",
    "aiarmor.poisoning.neural_cleanse",
    "aiarmor.poisoning.poison_checks",
    "aiarmor.fairness.group_metrics",
    "aiarmor.fairness.proxy",
    "aiarmor.explain.importance",
    "aiarmor.scanning.provenance_check",
)
"""Modules whose import registers aiarmor's own checks."""


def load_builtin_checks() -> None:
    """Import every built-in check module (idempotent)."""
    for name in BUILTIN_CHECK_MODULES:
        importlib.import_module(name)
