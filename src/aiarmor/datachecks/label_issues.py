"""The ``data.label_issues`` check: confident learning on out-of-sample probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aiarmor.core.capability import DatasetLike
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register

_MAX_ROWS = {Budget.QUICK: 2000, Budget.STANDARD: 10_000, Budget.THOROUGH: 100_000}
"""Rows examined per budget (a seeded sample beyond that)."""


@dataclass(frozen=True, slots=True)
class LabelIssues:
    """Samples whose given label disagrees confidently with out-of-sample predictions."""

    index: np.ndarray
    """Row indices (into the examined dataset) of the suspected label issues, worst first
    (lowest probability of the given label)."""
    suggested: np.ndarray
    """The class confident learning suggests for each of them."""
    margin: np.ndarray
    """p(suggested) - p(given) for each of them: how confident the disagreement is."""
    thresholds: np.ndarray
    """Per-class confidence thresholds t_j (mean self-confidence of class j)."""


def out_of_sample_proba(ds: DatasetLike, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Cross-validated class probabilities from a standardized logistic regression."""
    x = ds.x.reshape(len(ds), -1)
    k = ds.n_classes
    smallest = int(np.bincount(ds.y, minlength=k)[np.bincount(ds.y, minlength=k) > 0].min())
    cv = StratifiedKFold(n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.5))
    proba = cross_val_predict(model, x, ds.y, cv=cv, method="predict_proba")
    present = np.unique(ds.y)
    full = np.zeros((len(ds), k))
    full[:, present] = proba
    return full


def find_label_issues(y: np.ndarray, proba: np.ndarray) -> LabelIssues:
    """Confident learning (Northcutt et al., JAIR 2021): the off-diagonal of the confident joint.

    A sample labeled i is counted under class j when p_j >= t_j, the mean probability of class
    j among the samples labeled j; with several such j, the most probable one. Samples counted
    under a class other than their label are issues, lowest self-confidence p_i first.
    """
    k = proba.shape[1]
    thresholds = np.array([proba[y == j, j].mean() if (y == j).any() else 1.0 for j in range(k)])
    above = proba >= thresholds[None, :]
    masked = np.where(above, proba, -1.0)
    confident = masked.argmax(axis=1)
    has = above.any(axis=1)
    issue = has & (confident != y)
    idx = np.flatnonzero(issue)
    margin = proba[idx, confident[idx]] - proba[idx, y[idx]]
    order = np.argsort(proba[idx, y[idx]], kind="stable")  # lowest self-confidence first
    return LabelIssues(idx[order], confident[idx][order], margin[order], thresholds)


@register
class LabelIssuesCheck(Check):
    """Label issues: training labels that the data itself contradicts.

    What it detects:
        Samples whose given label disagrees, confidently, with what a simple model trained
        without them predicts: confident learning (Northcutt, Jiang and Chuang, "Confident
        Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021) over 5-fold
        out-of-sample probabilities of a standardized logistic regression. Needs no access to
        the model under test. Runs on the training data (``--train``), else on the data given.

    Why it matters:
        Mislabeled data degrades every model trained on it, and label flipping is the
        cheapest data-poisoning attack (and the relabeling half of a backdoor). Flips that
        concentrate on one (given -> suggested) pair look targeted rather than accidental.
        "Concentrate" is measured against accidental noise: if errors hit each class in
        proportion to its size and spread evenly over the other classes, pair (a, b) holds
        p_a / (K - 1) of them; the lift is the observed share over that. (Without the lift, a
        binary task with a 3:1 class ratio, such as UCI Adult, looks "targeted" by its priors.)

    Findings: an issue rate above ``max_issue_rate`` (medium), and one (given, suggested) pair
    holding at least ``targeted_share`` of the issues and ``min_lift`` times its share under
    accidental noise, while above the rate (high: a targeted flip). Evidence lists the worst
    rows by index so they can be reviewed or removed.

    Standards: MITRE ATLAS AML.T0020 (Poison Training Data), OWASP ML02 (Data Poisoning
    Attack), NIST AI RMF MEASURE 2.5.
    """

    id = "data.label_issues"
    title = "Label issues (confident learning)"
    summary = "Training labels contradicted by the data: label noise or label-flip poisoning."
    standards = ("ATLAS:AML.T0020", "OWASP-ML:ML02", "NIST-AI-RMF:MEASURE-2.5")
    params = (
        Param("max_issue_rate", float, 0.05, "Issue rate above which a finding is raised.",
              min=0.0, max=1.0),
        Param("targeted_share", float, 0.5,
              "Share of the issues in one (given, suggested) pair that reads as targeted.",
              min=0.0, max=1.0),
        Param("min_lift", float, 1.5,
              "How many times its accidental-noise share the targeted pair must hold.",
              min=1.0),
        Param("folds", int, 5, "Cross-validation folds.", min=2, max=20),
    )  # fmt: skip
    metrics = ("n_examined", "n_issues", "issue_rate", "top_pair_share", "top_pair_lift",
               "issues.*")  # fmt: skip

    def applicable(self, ctx: CheckContext) -> str | None:
        """Needs at least two classes with a few samples each."""
        ds = ctx.train if ctx.train is not None else ctx.data
        counts = np.bincount(ds.y)
        if (counts > 0).sum() < 2 or counts[counts > 0].min() < 2:
            return "label issues need at least two classes with two samples each"
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Sample rows, get out-of-sample probabilities, find and summarize the issues."""
        ds, which = (ctx.train, "train") if ctx.train is not None else (ctx.data, "data")
        rows = np.arange(len(ds))
        if len(ds) > _MAX_ROWS[ctx.budget]:
            rows = np.sort(ctx.rng().choice(len(ds), _MAX_ROWS[ctx.budget], replace=False))
            ds = ds.subset(rows)
        proba = out_of_sample_proba(ds, folds=int(ctx.params["folds"]), seed=ctx.seed)
        found = find_label_issues(ds.y, proba)
        pairs = _pairs(ds.y[found.index], found.suggested)
        share = max(pairs.values()) / len(found.index) if pairs else 0.0
        metrics = {"n_examined": float(len(ds)), "n_issues": float(len(found.index)),
                   "issue_rate": len(found.index) / len(ds), "top_pair_share": share,
                   "top_pair_lift": _lift(pairs, ds.y, ds.n_classes)}  # fmt: skip
        for cls in range(ds.n_classes):
            metrics[f"issues.class_{cls}"] = float((ds.y[found.index] == cls).sum())
        findings = self._findings(metrics, pairs, found, rows, ds, which, ctx)
        return CheckOutcome(metrics, tuple(findings), (_chart(pairs),))

    def _findings(
        self, m: dict[str, float], pairs: dict[tuple[int, int], int], found: LabelIssues,
        rows: np.ndarray, ds: DatasetLike, which: str, ctx: CheckContext,
    ) -> list[Finding]:  # fmt: skip
        if m["issue_rate"] <= ctx.params["max_issue_rate"]:
            return []
        worst = [
            {"row": int(rows[i]), "given": int(ds.y[i]), "suggested": int(s), "margin": float(g)}
            for i, s, g in zip(found.index[:20], found.suggested[:20], found.margin[:20],
                               strict=True)
        ]  # fmt: skip
        evidence = {"dataset": which, "worst": worst,
                    "pairs": {f"{a}->{b}": n for (a, b), n in sorted(pairs.items())}}  # fmt: skip
        remedy = ("Review the listed rows; relabel or remove confirmed issues and retrain "
                  "(aiarmor harden sanitize); trace where the labels came from.")  # fmt: skip
        (a, b), top = max(pairs.items(), key=lambda kv: kv[1])
        targeted = m["top_pair_lift"] >= ctx.params["min_lift"]
        if targeted and m["top_pair_share"] >= ctx.params["targeted_share"]:
            return [self.finding(
                Severity.HIGH,
                f"Targeted label flipping suspected: {top} samples labeled {a} look like {b}",
                f"{int(m['n_issues'])} of {int(m['n_examined'])} {which} labels "
                f"({m['issue_rate']:.1%}) are contradicted by the data, and "
                f"{m['top_pair_share']:.0%} of them are samples that look like class {b} but are "
                f"labeled {a}: the signature of deliberate relabeling (label flipping or the "
                "relabeling half of a backdoor).",
                remedy, evidence=evidence,
            )]  # fmt: skip
        return [self.finding(
            Severity.MEDIUM,
            f"{m['issue_rate']:.1%} of the {which} labels look wrong",
            f"{int(m['n_issues'])} of {int(m['n_examined'])} labels are contradicted by "
            "out-of-sample predictions (confident learning).",
            remedy, evidence=evidence,
        )]  # fmt: skip


def _lift(pairs: dict[tuple[int, int], int], y: np.ndarray, n_classes: int) -> float:
    """The top pair's share of the issues over its share if the noise were accidental."""
    if not pairs or n_classes < 2:
        return 0.0
    (a, _), top = max(pairs.items(), key=lambda kv: kv[1])
    prior = float(np.mean(y == a))
    expected = prior / (n_classes - 1)
    return (top / sum(pairs.values())) / expected if expected > 0 else 0.0


def _pairs(given: np.ndarray, suggested: np.ndarray) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for a, b in zip(given.tolist(), suggested.tolist(), strict=True):
        out[(a, b)] = out.get((a, b), 0) + 1
    return out


def _chart(pairs: dict[tuple[int, int], int]) -> Chart:
    top = sorted(pairs.items(), key=lambda kv: -kv[1])[:10]
    return Chart(
        id="pairs",
        title="Most frequent label issues (given -> suggested)",
        kind="bar",
        series=(
            Series(
                "issues", tuple(f"{a}->{b}" for (a, b), _ in top), tuple(float(n) for _, n in top)
            ),
        ),
        x_label="given -> suggested class",
        y_label="samples",
    )
