"""Privacy: membership inference (more attacks, extraction, PII and DP come with issue 5)."""

from aiarmor.privacy.membership import MembershipCheck, loss_scores
from aiarmor.privacy.metrics import MembershipMetrics, membership_metrics, tpr_at_fpr
from aiarmor.privacy.pii import PiiReport, scan_pii

__all__ = [
    "MembershipCheck",
    "MembershipMetrics",
    "PiiReport",
    "loss_scores",
    "membership_metrics",
    "scan_pii",
    "tpr_at_fpr",
]
