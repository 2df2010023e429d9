"""Privacy: membership inference (more attacks, extraction, PII and DP come with issue 5)."""

from aiarmor.privacy.membership import MembershipCheck, loss_scores
from aiarmor.privacy.metrics import MembershipMetrics, membership_metrics, tpr_at_fpr

__all__ = [
    "MembershipCheck",
    "MembershipMetrics",
    "loss_scores",
    "membership_metrics",
    "tpr_at_fpr",
]
