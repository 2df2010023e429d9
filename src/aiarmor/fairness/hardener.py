"""Fairness mitigation as a hardener (:class:`aiarmor.core.hardener.Hardener`).

:class:`FairnessHardener` mitigates a scikit-learn target's estimator with Fairlearn
(:func:`~aiarmor.fairness.mitigate`). Both audits run ``baseline.performance`` and
``fairness.group_metrics``; the mitigated model is audited on the data as it takes it (the
threshold method adds group-code columns, :func:`~aiarmor.fairness.model_input`), and that
held-out data is saved next to the model so it can be audited again. The section is
:func:`~aiarmor.fairness.comparison_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiarmor.core.findings import CheckResult
from aiarmor.core.hardener import Hardened
from aiarmor.core.policy import Policy
from aiarmor.core.report import Report
from aiarmor.fairness.compare import comparison_section
from aiarmor.fairness.mitigation import CONSTRAINT_METRIC, check_mitigable, mitigate, model_input

CHECKS = ("baseline.performance", "fairness.group_metrics")
"""The checks both audits run (unless more are asked for)."""
INFO_KEY = "mitigation"
"""Key of the mitigation settings in the report subject and ``comparison.json``."""
GROUPS_DATA_FILE = "data-with-groups.npz"
"""The held-out data with the group-code columns the threshold method's model takes."""


@dataclass(frozen=True, slots=True)
class FairnessHardener:
    """A Fairlearn mitigation of a scikit-learn target's ``estimator``."""

    sensitive: tuple[str, ...]
    """The attributes to mitigate for (jointly, over their intersection)."""
    method: str = "threshold"
    """``threshold`` (post-processing) or ``reductions`` (retraining)."""
    constraint: str = "demographic_parity"
    """``demographic_parity``, ``equalized_odds`` or ``equal_opportunity``."""
    eps: float = 0.01
    """Reductions: the allowed constraint violation."""
    seed: int = 0
    """Seed of the mitigation (its derandomization key)."""
    checks: tuple[str, ...] = CHECKS
    """The checks both audits run."""
    model_file: str = "model.skops"
    """The mitigated model's file name."""

    def validate(self, target: Any, train: Any, data: Any) -> None:
        """What the mitigation needs of the estimator and the data, before the audit."""
        check_mitigable(target.estimator, train, method=self.method,
                        constraint=self.constraint, sensitive=self.sensitive)  # fmt: skip

    def policy_for(self, policy: Policy, data: Any) -> Policy:
        """``policy`` as it is."""
        return policy

    def transform(self, target: Any, train: Any, data: Any) -> Hardened:
        """Fit the mitigation on ``train``; the mitigated model takes ``model_input`` data."""
        from aiarmor.targets.sklearn_target import sklearn_target

        options: dict[str, Any] = {"eps": self.eps} if self.method == "reductions" else {}
        model = mitigate(target.estimator, train, method=self.method, constraint=self.constraint,
                         sensitive=self.sensitive, seed=self.seed, **options)  # fmt: skip
        name = f"{target.name} + {self.method} ({self.constraint})"
        info = {"method": self.method, "constraint": self.constraint,
                "attributes": list(self.sensitive),
                "uses_sensitive_at_decision_time": bool(model.uses_groups_)}  # fmt: skip
        return Hardened(target=sklearn_target(model, name=name), model=model, result=model,
                        info={INFO_KEY: info}, data=model_input(model, data),
                        train=model_input(model, train),
                        data_file=GROUPS_DATA_FILE if model.uses_groups_ else None)  # fmt: skip

    def section(self, before: Report, after: Report, hardened: Hardened) -> CheckResult:
        """The ``fairness.mitigation`` section, for the mitigated attribute(s)."""
        return comparison_section(before, after, method=self.method,
                                  attribute="&".join(hardened.model.sensitive_names_),
                                  constraint_metric=CONSTRAINT_METRIC[self.constraint])  # fmt: skip
