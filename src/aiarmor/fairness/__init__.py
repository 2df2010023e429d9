"""Fairness: group and intersectional metrics, proxy detection and mitigation (Fairlearn).

* ``fairness.group_metrics`` (:class:`GroupMetricsCheck`) - per-group rates and disparities
  with bootstrap intervals, the four-fifths rule, intersectional groups;
* ``fairness.proxy`` (:class:`ProxyCheck`) - features that encode a sensitive attribute and
  that the model relies on;
* :func:`mitigate` / :class:`FairnessMitigator` - Fairlearn's ThresholdOptimizer or
  ExponentiatedGradient under a constraint, as a portable scikit-learn estimator;
* :func:`comparison_section` / :func:`with_section` - the before/after table of a mitigation
  as a section of the mitigated model's report.

A mitigation with its before/after report, as ``aiarmor harden fairness`` does it::

    model = mitigate(estimator, train, method="threshold", constraint="demographic_parity")
    before = audit(SklearnTarget(estimator), test, checks=[...])
    after = audit(SklearnTarget(model), model_input(model, test), checks=[...])
    section = comparison_section(before, after, method="threshold",
                                 constraint_metric=CONSTRAINT_METRIC["demographic_parity"],
                                 attribute="sex")
    report = with_section(after, section, {"mitigation": {...}})

Importing this package registers its checks.
"""

from aiarmor.fairness.compare import (
    ComparisonRow,
    comparison_rows,
    comparison_section,
    with_section,
)
from aiarmor.fairness.group_metrics import GroupMetricsCheck
from aiarmor.fairness.metrics import (
    DISPARITIES,
    RATES,
    AttributeFairness,
    GroupStats,
    assess_attribute,
)
from aiarmor.fairness.mitigation import (
    CONSTRAINT_METRIC,
    CONSTRAINTS,
    METHODS,
    FairnessMitigator,
    mitigate,
    model_input,
)
from aiarmor.fairness.proxy import ProxyCheck, ProxyScan, scan_attribute

__all__ = [
    "CONSTRAINTS",
    "CONSTRAINT_METRIC",
    "DISPARITIES",
    "METHODS",
    "RATES",
    "AttributeFairness",
    "ComparisonRow",
    "FairnessMitigator",
    "GroupMetricsCheck",
    "GroupStats",
    "ProxyCheck",
    "ProxyScan",
    "assess_attribute",
    "comparison_rows",
    "comparison_section",
    "mitigate",
    "model_input",
    "scan_attribute",
    "with_section",
]
