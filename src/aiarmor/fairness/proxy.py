"""The ``fairness.proxy`` check: features that stand in for a sensitive attribute."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import entropy
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aiarmor.core.capability import Capability
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.explain.attribution import feature_names, permutation_scores
from aiarmor.fairness.group_metrics import chosen_attributes, predict_labels

_SAMPLES = {Budget.QUICK: 1000, Budget.STANDARD: 5000, Budget.THOROUGH: 20_000}
"""Held-out records used, per budget."""
_REPEATS = {Budget.QUICK: 2, Budget.STANDARD: 5, Budget.THOROUGH: 10}
"""Permutation repeats per feature, per budget."""
_FOLDS = 3
_PROBE_ROWS = 2000
"""Records the probe is cross-validated on (its AUC is stable well before that)."""


@dataclass(frozen=True, slots=True)
class ProxyScan:
    """How each feature relates to one sensitive attribute, and which are proxies."""

    attribute: str
    """The sensitive attribute."""
    association: np.ndarray
    """Per feature: the uncertainty coefficient U(attribute | feature) in [0, 1]."""
    probe_auc: float
    """Cross-validated AUC of a linear probe predicting the attribute from all features."""
    proxies: tuple[int, ...]
    """Indices of the proxy features, strongest association first."""


def uncertainty_coefficients(x: np.ndarray, groups: np.ndarray, *, seed: int) -> np.ndarray:
    """Theil's U of the attribute given each feature: I(A; f) / H(A), in [0, 1].

    Mutual information is scikit-learn's estimate: exact counts for 0/1 features (one-hot
    columns), the Kraskov k-nearest-neighbour estimator for the others.
    """
    _, codes = np.unique(groups, return_inverse=True)
    codes = codes.reshape(-1)
    h = float(entropy(np.bincount(codes)))
    if h <= 0.0:
        return np.zeros(x.shape[1])
    binary = np.array([np.isin(x[:, j], (0.0, 1.0)).all() for j in range(x.shape[1])])
    mi = mutual_info_classif(x, codes, discrete_features=binary, random_state=seed)
    return np.clip(np.asarray(mi, dtype=np.float64) / h, 0.0, 1.0)


def probe_auc(x: np.ndarray, groups: np.ndarray, *, seed: int) -> float:
    """How well all features together predict the attribute: a linear probe's CV AUC.

    Macro one-vs-rest AUC over the groups with enough records for the folds, on at most
    ``_PROBE_ROWS`` records (``x`` is expected in random order); 0.5 is chance.
    A linear probe is a lower bound: a stronger model may recover the attribute better.
    """
    names, counts = np.unique(groups, return_counts=True)
    keep = np.isin(groups, names[counts >= 2 * _FOLDS])
    keep[np.flatnonzero(keep)[_PROBE_ROWS:]] = False  # rows are already a random sample
    labels = np.unique(groups[keep], return_inverse=True)[1].reshape(-1)
    if len(np.unique(labels)) < 2:
        return float("nan")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    folds = StratifiedKFold(_FOLDS, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        proba = cross_val_predict(probe, x[keep], labels, cv=folds, method="predict_proba")
    if proba.shape[1] == 2:
        return float(roc_auc_score(labels, proba[:, 1]))
    return float(roc_auc_score(labels, proba, multi_class="ovr", average="macro"))


def scan_attribute(
    attribute: str,
    x: np.ndarray,
    groups: np.ndarray,
    reliance: np.ndarray,
    *,
    min_association: float,
    min_reliance: float,
    seed: int,
) -> ProxyScan:
    """Association of each feature with the attribute; proxies are associated and relied on."""
    association = uncertainty_coefficients(x, groups, seed=seed)
    flagged = np.flatnonzero((association >= min_association) & (reliance >= min_reliance))
    order = flagged[np.argsort(-association[flagged], kind="stable")]
    return ProxyScan(attribute, association, probe_auc(x, groups, seed=seed),
                     tuple(int(i) for i in order))  # fmt: skip


@register
class ProxyCheck(Check):
    """Proxy discrimination: features that encode a sensitive attribute and drive decisions.

    What it detects:
        Features that carry information about a sensitive attribute (the uncertainty
        coefficient U = I(A; f) / H(A), from scikit-learn's mutual-information estimate) and
        that the model relies on (the share of its decisions that change when the feature is
        shuffled: scikit-learn's permutation importance scored against the model's own
        predictions). A feature above both bounds is a proxy. A linear probe (cross-validated
        AUC predicting the attribute from all features) shows how recoverable the attribute
        is from the inputs as a whole.

    Why it matters:
        Removing the sensitive attribute from the inputs ("fairness through unawareness")
        does not stop a model from discriminating: ``relationship=Husband`` encodes sex,
        a postcode encodes ethnicity. This check flags proxy discrimination even though the
        sensitive attribute itself is not a model input; ``fairness.group_metrics`` measures
        whether the resulting decisions differ between groups.

    Standards: NIST AI RMF MEASURE 2.11 (fairness and bias are evaluated) and MANAGE.

    References: Datta, Fredrikson, Ko, Mardziel & Sen, "Proxy Non-Discrimination in Data-
    Driven Systems", CCS 2017; Kilbertus et al., "Avoiding Discrimination through Causal
    Reasoning", NeurIPS 2017; Theil, "Economic Forecasts and Policy" (1961) (uncertainty
    coefficient); Kraskov, Stoegbauer & Grassberger, Phys. Rev. E 69 (2004) (MI estimator).
    """

    id = "fairness.proxy"
    requires = (Capability.SENSITIVE, Capability.TABULAR, Capability.LABELS)
    title = "Proxy discrimination"
    summary = "Features that stand in for a sensitive attribute and that the model relies on."
    standards = ("NIST-AI-RMF:MEASURE-2.11", "NIST-AI-RMF:MANAGE")
    params = (
        Param("attributes", list, None, "Sensitive attributes to scan (default: all).", item=str),
        Param("min_association", float, 0.05,
              "Uncertainty coefficient U(attribute | feature) at or above which a feature "
              "encodes the attribute.", min=0.0, max=1.0, min_exclusive=True),
        Param("min_reliance", float, 0.01,
              "Share of decisions that change when the feature is shuffled at or above "
              "which the model relies on it.", min=0.0, max=1.0, min_exclusive=True),
        Param("max_probe_auc", float, 0.8,
              "Probe AUC above which the attribute counts as recoverable from the inputs.",
              min=0.5, max=1.0),
        Param("top_k", int, 8, "Features per attribute reported as metrics and charted.", min=1),
        Param("batch_size", int, 4096, "Samples per query to the target.", min=1),
    )  # fmt: skip
    metrics = (
        "association.*", "reliance.*", "max_association.*", "probe_auc.*", "n_proxies.*",
    )  # fmt: skip

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Measure reliance once, then association and proxies per attribute."""
        p, rng = ctx.params, ctx.rng()
        names = chosen_attributes(p, ctx.data)
        n = min(len(ctx.data), _SAMPLES[ctx.budget])
        sample = ctx.data.subset(np.sort(rng.choice(len(ctx.data), n, replace=False)))
        features = feature_names(sample.sample_shape, sample.feature_names)
        seed = int(rng.integers(2**31))
        ctx.report(0, len(names) + 1, "model reliance")
        decisions = predict_labels(ctx.target, sample.x, int(p["batch_size"]))
        reliance = permutation_scores(
            ctx.target, sample.x, decisions, features, n_repeats=_REPEATS[ctx.budget], seed=seed
        ).mean
        scans = []
        for i, attr in enumerate(names):
            ctx.report(i + 1, len(names) + 1, attr)
            scans.append(scan_attribute(
                attr, sample.x, np.asarray(sample.sensitive[attr]).astype(str), reliance,
                min_association=float(p["min_association"]),
                min_reliance=float(p["min_reliance"]), seed=seed,
            ))  # fmt: skip
        top_k = int(p["top_k"])
        metrics = _metrics(scans, reliance, features, top_k)
        findings = [f for s in scans for f in self._findings(s, reliance, features, p)]
        charts = tuple(_chart(s, reliance, features, top_k) for s in scans)
        return CheckOutcome(metrics, tuple(findings), charts)

    def _findings(
        self, s: ProxyScan, reliance: np.ndarray, features: Sequence[str], p: Mapping[str, Any]
    ) -> list[Finding]:
        out = []
        if s.proxies:
            listed = ", ".join(
                f"{features[i]} (U={s.association[i]:.2f}, {reliance[i]:.1%} of decisions)"
                for i in s.proxies[:5]
            )
            out.append(self.finding(
                Severity.MEDIUM,
                f"Proxy for {s.attribute}: the model relies on {features[s.proxies[0]]}",
                f"{len(s.proxies)} feature(s) encode {s.attribute} and drive the model's "
                f"decisions: {listed}. U is the share of the uncertainty about "
                f"{s.attribute} a feature removes; the percentage is the share of decisions "
                "that change when it is shuffled. Leaving the sensitive attribute out of the "
                "inputs does not prevent discrimination through these features.",
                "Review whether each proxy is legitimate for the decision (business necessity); "
                "if not, remove or transform it, or mitigate the outcome disparity "
                "(aiarmor harden fairness) and check fairness.group_metrics.",
                evidence={"attribute": s.attribute, "probe_auc": s.probe_auc, "proxies": {
                    features[i]: {"association": float(s.association[i]),
                                  "reliance": float(reliance[i])} for i in s.proxies}},
            ))  # fmt: skip
        elif np.isfinite(s.probe_auc) and s.probe_auc > float(p["max_probe_auc"]):
            out.append(self.finding(
                Severity.INFO,
                f"{s.attribute} is recoverable from the inputs (probe AUC {s.probe_auc:.2f})",
                f"A linear probe predicts {s.attribute} from the model's inputs with "
                f"cross-validated AUC {s.probe_auc:.2f}, although no single feature the "
                "model relies on is a strong proxy. The information is spread over features.",
                "Check fairness.group_metrics for outcome disparities.",
                evidence={"attribute": s.attribute, "probe_auc": s.probe_auc},
            ))  # fmt: skip
        return out


def _top_associated(s: ProxyScan, k: int) -> np.ndarray:
    return np.argsort(-s.association, kind="stable")[:k]


def _metrics(
    scans: list[ProxyScan], reliance: np.ndarray, features: Sequence[str], k: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in scans:
        out |= {f"association.{s.attribute}.{features[i]}": float(s.association[i])
                for i in _top_associated(s, k)}  # fmt: skip
        out[f"max_association.{s.attribute}"] = float(s.association.max(initial=0.0))
        out[f"probe_auc.{s.attribute}"] = s.probe_auc
        out[f"n_proxies.{s.attribute}"] = float(len(s.proxies))
    for i in np.argsort(-reliance, kind="stable")[:k]:
        out[f"reliance.{features[i]}"] = float(reliance[i])
    return out


def _chart(s: ProxyScan, reliance: np.ndarray, features: Sequence[str], k: int) -> Chart:
    """The features most associated with the attribute, beside the model's reliance on them."""
    top = _top_associated(s, k)
    labels = tuple(features[i] for i in top)
    return Chart(
        id=f"proxy-{s.attribute}",
        title=f"Features associated with {s.attribute}",
        kind="bar",
        series=(
            Series(f"association U({s.attribute} | feature)", labels,
                   tuple(float(s.association[i]) for i in top)),
            Series("model reliance (decisions changed)", labels,
                   tuple(float(reliance[i]) for i in top)),
        ),
        x_label="feature",
        y_label="share",
    )  # fmt: skip
