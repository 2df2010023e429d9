"""The ``fairness.group_metrics`` check: do the model's decisions differ between groups?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from aiarmor.core.capability import Capability, DatasetLike
from aiarmor.core.errors import ConfigError
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.fairness.metrics import (
    DISPARITIES,
    RATES,
    AttributeFairness,
    assess_attribute,
    attribute_sets,
    binarize,
    group_values,
)

_BOOT = {Budget.QUICK: 200, Budget.STANDARD: 1000, Budget.THOROUGH: 5000}
"""Bootstrap resamples per budget (cheap: resamples are multinomial cell counts)."""

_REMEDY = (
    "Check the training data for under-representation and label bias in the affected groups, "
    "then mitigate: post-processing thresholds or a reductions retraining "
    "(aiarmor harden fairness), and re-audit. Record the accepted residual disparity and "
    "its justification in the policy."
)

_RULES = (
    # (disparity, param bounding it, "max" or "min", human name)
    ("demographic_parity_difference", "max_demographic_parity_difference", "max",
     "Selection rates differ between groups"),
    ("equalized_odds_difference", "max_equalized_odds_difference", "max",
     "Error rates differ between groups"),
    ("equal_opportunity_difference", "max_equal_opportunity_difference", "max",
     "True-positive rates differ between groups"),
    ("demographic_parity_ratio", "min_selection_rate_ratio", "min",
     "Adverse impact under the four-fifths rule"),
)  # fmt: skip


def predict_labels(target: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The target's predicted labels for ``x``, queried in batches."""
    parts = [
        np.asarray(target.predict(x[i : i + batch_size])) for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts).astype(np.int64)


def positive_class(params: Mapping[str, Any], data: DatasetLike) -> int | None:
    """The favourable class: the policy's, else 1 for a binary task, else None (unknown)."""
    chosen = params.get("positive_class")
    if chosen is not None:
        return int(chosen)
    return 1 if data.n_classes <= 2 else None


def chosen_attributes(params: Mapping[str, Any], data: DatasetLike) -> list[str]:
    """The sensitive attributes to assess (the policy's list, else every one of the data)."""
    wanted = params.get("attributes")
    names = list(data.sensitive) if wanted is None else [str(a) for a in wanted]
    unknown = [n for n in names if n not in data.sensitive]
    if unknown:
        raise ConfigError(
            f"attributes {', '.join(unknown)} are not sensitive attributes of {data.name} "
            f"(it has: {', '.join(data.sensitive) or 'none'})"
        )
    return names


@register
class GroupMetricsCheck(Check):
    """Group and intersectional fairness: selection and error rates per group, with intervals.

    What it detects:
        Decisions whose rates differ between the groups of a sensitive attribute (``sex``,
        ``race``) and of intersections of two attributes (``sex&race``): the selection rate
        of the favourable outcome, accuracy, true- and false-positive rates and precision
        per group; and between groups the demographic parity difference and ratio, the
        equalized odds difference and the equal opportunity difference. The numbers are
        Fairlearn's (``MetricFrame`` and the ``fairlearn.metrics`` definitions).

    Why it matters:
        A model trained on biased records reproduces the bias in its decisions; regulators
        and auditors ask for per-group evidence, and small groups carry large uncertainty.
        So every number has a percentile-bootstrap confidence interval, and findings fire
        only when the whole interval is past the policy's bound (a disparity, not noise).
        Groups smaller than ``min_group_size`` are reported but not compared. The four-fifths
        rule (selection-rate ratio below 0.8; US EEOC Uniform Guidelines, 29 CFR 1607.4(D))
        is a finding of its own. A disparity measures an effect, not its cause: biased
        training data, under-representation, or a deliberately skewed model.

    Standards: OWASP ML08 (Model Skewing: a skewed model shows up here as a disparity),
    NIST AI RMF MEASURE 2.11 (fairness and bias are evaluated) and MANAGE (respond to it).

    References: Hardt, Price & Srebro, "Equality of Opportunity in Supervised Learning",
    NeurIPS 2016; Feldman et al., "Certifying and Removing Disparate Impact", KDD 2015;
    Buolamwini & Gebru, "Gender Shades", FAT* 2018 (intersectional groups); Weerts et al.,
    "Fairlearn: Assessing and Improving Fairness of AI Systems", JMLR 24 (2023).
    """

    id = "fairness.group_metrics"
    requires = (Capability.SENSITIVE, Capability.LABELS)
    title = "Group fairness metrics"
    summary = "Selection and error rates that differ between (intersectional) groups."
    standards = ("OWASP-ML:ML08", "NIST-AI-RMF:MEASURE-2.11", "NIST-AI-RMF:MANAGE")
    params = (
        Param("positive_class", int, None,
              "The favourable outcome's class index (default: 1 for binary tasks).", min=0),
        Param("attributes", list, None, "Sensitive attributes to assess (default: all).",
              item=str),
        Param("intersections", bool, True, "Also assess each pair of attributes jointly."),
        Param("min_group_size", int, 30, "Smaller groups are reported but not compared.", min=2),
        Param("max_demographic_parity_difference", float, 0.1,
              "Selection-rate difference whose CI lower bound above it is a finding.",
              min=0.0, max=1.0),
        Param("max_equalized_odds_difference", float, 0.1,
              "Equalized odds difference whose CI lower bound above it is a finding.",
              min=0.0, max=1.0),
        Param("max_equal_opportunity_difference", float, None,
              "TPR difference whose CI lower bound above it is a finding (unset: none).",
              min=0.0, max=1.0),
        Param("min_selection_rate_ratio", float, 0.8,
              "Four-fifths rule: a ratio whose CI upper bound is below it is a finding.",
              min=0.0, max=1.0),
        Param("high_disparity", float, 0.2,
              "A difference whose CI lower bound is above this is high severity.",
              min=0.0, max=1.0),
        Param("confidence", float, 0.95, "Confidence level of the bootstrap intervals.",
              min=0.5, max=0.999),
        Param("batch_size", int, 4096, "Samples per query to the target.", min=1),
    )  # fmt: skip
    metrics = (
        *(f"{d}{suffix}.*" for d in DISPARITIES for suffix in ("", "_ci_low", "_ci_high")),
        *(f"{r}.*" for r in RATES),
        "count.*",
        "n_small_groups.*",
    )

    def applicable(self, ctx: CheckContext) -> str | None:
        """Needs a known favourable class (sensitive attributes and label queries are declared
        requirements)."""
        if positive_class(ctx.params, ctx.data) is None:
            return (
                f"{ctx.data.n_classes} classes: set positive_class (the favourable outcome) "
                "in the policy to assess a multiclass model"
            )
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Predict, then assess every attribute and intersection."""
        p, data, rng = ctx.params, ctx.data, ctx.rng()
        positive = positive_class(p, data)
        if positive is None:  # applicable() guarantees it; keeps the type checker honest
            raise ConfigError("positive_class is not set")
        names = chosen_attributes(p, data)
        y_true = binarize(data.y, positive)
        y_pred = binarize(predict_labels(ctx.target, data.x, int(p["batch_size"])), positive)
        sets = attribute_sets(names, bool(p["intersections"]))
        results = []
        for i, attrs in enumerate(sets):
            ctx.report(i, len(sets), "&".join(attrs))
            results.append(assess_attribute(
                "&".join(attrs), group_values(data.sensitive, attrs), y_true, y_pred,
                min_group_size=int(p["min_group_size"]), rng=rng, n_boot=_BOOT[ctx.budget],
                confidence=float(p["confidence"]),
            ))  # fmt: skip
        metrics: dict[str, float] = {}
        findings: list[Finding] = []
        for r in results:
            metrics |= attribute_metrics(r)
            findings += self._findings(r, p)
        return CheckOutcome(metrics, tuple(findings), tuple(rates_chart(r) for r in results))

    def _findings(self, r: AttributeFairness, p: Mapping[str, Any]) -> list[Finding]:
        """Disparity findings past the policy, an inconclusive note, a small-groups note."""
        out: list[Finding] = []
        inconclusive: list[str] = []
        for disparity, param, kind, headline in _RULES:
            bound = p.get(param)
            if bound is None:
                continue
            verdict = _compare(r, disparity, float(bound), kind)
            if verdict == "violated":
                out.append(self._disparity_finding(r, disparity, param, float(bound), headline, p))
            elif verdict == "inconclusive":
                inconclusive.append(disparity)
        if inconclusive:
            out.append(self._inconclusive_finding(r, inconclusive))
        if r.small_groups:
            out.append(self._small_groups_finding(r, int(p["min_group_size"])))
        return out

    def _disparity_finding(
        self,
        r: AttributeFairness,
        disparity: str,
        param: str,
        bound: float,
        headline: str,
        p: Mapping[str, Any],
    ) -> Finding:
        value = r.disparities[disparity]
        low, high = r.intervals[disparity]
        is_ratio = disparity.endswith("_ratio")
        severity = Severity.MEDIUM
        if not is_ratio and low > float(p["high_disparity"]):
            severity = Severity.HIGH
        lo_g, hi_g = _extreme_groups(r, "selection_rate" if "parity" in disparity else "tpr")
        pct = round(r.confidence * 100)
        rule = f"at least {bound:g}" if is_ratio else f"at most {bound:g}"
        return self.finding(
            severity,
            f"{headline} for {r.attribute} ({disparity} {value:.3f})",
            f"{disparity} across the groups of {r.attribute} is {value:.3f} ({pct}% CI "
            f"{low:.3f}-{high:.3f}); the policy ({param}) requires {rule}, and the whole "
            f"interval is past it. Lowest group: {lo_g}; highest: {hi_g}.",
            _REMEDY,
            evidence={
                "attribute": r.attribute,
                "metric": disparity,
                "value": value,
                "ci": [low, high],
                "bound": bound,
                "selection_rate_by_group": {
                    g.name: g.rates["selection_rate"] for g in r.groups if g.compared
                },
                "tpr_by_group": {g.name: g.rates["tpr"] for g in r.groups if g.compared},
                "fpr_by_group": {g.name: g.rates["fpr"] for g in r.groups if g.compared},
            },
        )

    def _inconclusive_finding(self, r: AttributeFairness, names: list[str]) -> Finding:
        values = {n: r.disparities[n] for n in names}
        return self.finding(
            Severity.INFO,
            f"Possible disparity for {r.attribute} is not statistically conclusive",
            f"The point estimates of {', '.join(names)} for {r.attribute} are past the "
            "policy's bounds, but their confidence intervals include the bound: more "
            "records per group are needed to conclude either way.",
            "Audit on a larger held-out sample of the affected groups.",
            evidence={"attribute": r.attribute, "values": values,
                      "ci": {n: list(r.intervals[n]) for n in names}},
        )  # fmt: skip

    def _small_groups_finding(self, r: AttributeFairness, minimum: int) -> Finding:
        small = {g.name: g.count for g in r.small_groups}
        return self.finding(
            Severity.INFO,
            f"{len(small)} group(s) of {r.attribute} are too small to compare",
            f"Groups with fewer than {minimum} records are reported but left out of the "
            f"disparities for {r.attribute}, because their rates are too uncertain: "
            f"{', '.join(f'{k} (n={v})' for k, v in small.items())}.",
            "Collect more held-out records for these groups before drawing conclusions "
            "about them; do not read their absence from the findings as fair treatment.",
            evidence={"attribute": r.attribute, "min_group_size": minimum, "groups": small},
            standards=("NIST-AI-RMF:MEASURE-2.11",),
        )


def _compare(r: AttributeFairness, disparity: str, bound: float, kind: str) -> str:
    """``violated`` (whole CI past the bound), ``inconclusive`` (only the estimate) or ``ok``."""
    value = r.disparities[disparity]
    low, high = r.intervals[disparity]
    if not np.isfinite(value):
        return "ok"
    if kind == "max":
        return "violated" if low > bound else ("inconclusive" if value > bound else "ok")
    return "violated" if high < bound else ("inconclusive" if value < bound else "ok")


def _extreme_groups(r: AttributeFairness, rate: str) -> tuple[str, str]:
    """The compared groups with the lowest and highest ``rate``, as ``name (value)``."""
    compared = sorted((g for g in r.groups if g.compared), key=lambda g: g.rates[rate])
    fmt = [f"{g.name} ({rate} {g.rates[rate]:.3f}, n={g.count})" for g in compared]
    return (fmt[0], fmt[-1]) if fmt else ("none", "none")


def attribute_metrics(r: AttributeFairness) -> dict[str, float]:
    """The flat metrics of one attribute: disparities with CIs, rates and count per group."""
    out: dict[str, float] = {}
    for d in DISPARITIES:
        out[f"{d}.{r.attribute}"] = r.disparities[d]
        out[f"{d}_ci_low.{r.attribute}"] = r.intervals[d][0]
        out[f"{d}_ci_high.{r.attribute}"] = r.intervals[d][1]
    for g in r.groups:
        key = f"{r.attribute}={g.name}"
        out |= {f"{m}.{key}": g.rates[m] for m in RATES}
        out[f"count.{key}"] = float(g.count)
    out[f"n_small_groups.{r.attribute}"] = float(len(r.small_groups))
    return out


def rates_chart(r: AttributeFairness) -> Chart:
    """Selection rate, TPR and FPR per group; each error bar is as long as the group's CI."""
    labels = tuple(f"{g.name} (n={g.count})" for g in r.groups)
    series = []
    for rate, name in (("selection_rate", "selection rate"), ("tpr", "TPR"), ("fpr", "FPR")):
        values = tuple(g.rates[rate] for g in r.groups)
        errors = tuple(_half_width(g.intervals[rate]) for g in r.groups)
        series.append(Series(name, labels, values, errors))
    return Chart(
        id=f"rates-{r.attribute}",
        title=f"Rates by {r.attribute}",
        kind="bar",
        series=tuple(series),
        x_label=r.attribute,
        y_label=f"rate (error bar: {round(r.confidence * 100)}% CI width)",
    )


def _half_width(interval: tuple[float, float]) -> float:
    """Half the interval's width: a symmetric error bar as long as the interval."""
    low, high = interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return 0.0
    return float(high - low) / 2.0
