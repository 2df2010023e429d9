"""Privacy: membership inference (loss, label-only, RMIA, LiRA) and model-extraction risk."""

from aiarmor.privacy.membership import MembershipCheck, loss_scores
from aiarmor.privacy.metrics import MembershipMetrics, membership_metrics, tpr_at_fpr
from aiarmor.privacy.recipes import TrainFn, attach_recipe, recipe_for
from aiarmor.privacy.reference_attacks import MembershipAttackResult, membership_inference

__all__ = [
    "MembershipAttackResult",
    "MembershipCheck",
    "MembershipMetrics",
    "TrainFn",
    "attach_recipe",
    "loss_scores",
    "membership_inference",
    "membership_metrics",
    "recipe_for",
    "tpr_at_fpr",
]
