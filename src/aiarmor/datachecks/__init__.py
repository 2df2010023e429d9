"""Checks of the data itself (no model needed): label issues; duplicates come next."""

from aiarmor.datachecks.label_issues import (
    LabelIssues,
    LabelIssuesCheck,
    find_label_issues,
    out_of_sample_proba,
)

__all__ = ["LabelIssues", "LabelIssuesCheck", "find_label_issues", "out_of_sample_proba"]
