"""Checks of the data itself (no model needed): label issues, duplicates and leakage."""

from aiarmor.datachecks.duplicates import DuplicatesCheck
from aiarmor.datachecks.label_issues import (
    LabelIssues,
    LabelIssuesCheck,
    find_label_issues,
    out_of_sample_proba,
)

__all__ = [
    "DuplicatesCheck",
    "LabelIssues",
    "LabelIssuesCheck",
    "find_label_issues",
    "out_of_sample_proba",
]
