"""The ``privacy.membership`` check: does the model reveal who was in its training set?"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiarmor.core.errors import CheckError
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.privacy.metrics import MembershipMetrics, membership_metrics
from aiarmor.targets.base import ScoreTarget, Target

_PAIRS = {Budget.QUICK: 500, Budget.STANDARD: 2000, Budget.THOROUGH: 10_000}
"""Members (and as many non-members) sampled per budget."""
_BOOT = {Budget.QUICK: 100, Budget.STANDARD: 200, Budget.THOROUGH: 1000}
"""Bootstrap resamples per budget."""
_EPS = 1e-12


def loss_scores(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Membership scores: the negative cross-entropy loss of the true label (higher: member)."""
    p_true = np.clip(proba[np.arange(len(y)), y], _EPS, 1.0)
    scores: np.ndarray = np.log(p_true)
    return scores


@register
class MembershipCheck(Check):
    """Membership inference: can an attacker tell training records from unseen ones?

    What it detects:
        A model whose answers differ measurably between records it was trained on (members,
        from ``--train``) and records it never saw (non-members, from ``--data``). The
        attack thresholds the per-record loss of the true label (Yeom et al., CSF 2018), the
        strongest attack that needs no reference models; label-only targets are attacked by
        correctness (Choquette-Choo et al., ICML 2021 baseline).

    Why it matters:
        Membership alone can be sensitive (being in a hospital's training set reveals a
        diagnosis), and it is the first step of reconstruction and extraction attacks. The
        leak grows with overfitting and overconfidence. Following Carlini et al. (S&P 2022),
        the check reports the true-positive rate at low false-positive rates (1%, 0.1%),
        which measures whether *some* records are identifiable with confidence, besides AUC
        and balanced accuracy; each with a stratified bootstrap 95% interval.

    Findings fire on the interval's lower bound, so noise on small samples does not trigger
    them: AUC above ``max_auc`` (medium; high above ``high_auc``) and TPR at 1% FPR above
    ``max_tpr_at_1pct_fpr``. The attack here is a lower bound on leakage: reference-model
    attacks (RMIA, LiRA) are stronger and come with the privacy issue.

    Standards: MITRE ATLAS AML.T0024.000 (Infer Training Data Membership), OWASP ML04
    (Membership Inference Attack), NIST AI RMF MEASURE 2.10 (privacy risk).

    References: Shokri et al., "Membership Inference Attacks against ML Models", S&P 2017;
    Yeom et al., "Privacy Risk in Machine Learning", CSF 2018; Carlini et al., "Membership
    Inference Attacks From First Principles", S&P 2022.
    """

    id = "privacy.membership"
    title = "Membership inference"
    summary = "Whether the model's answers reveal which records were in its training set."
    standards = ("ATLAS:AML.T0024.000", "OWASP-ML:ML04", "NIST-AI-RMF:MEASURE-2.10")
    requires = ("train",)
    params = (
        Param(
            "max_auc",
            float,
            0.6,
            "AUC whose CI lower bound above it is a finding.",
            min=0.5,
            max=1.0,
        ),
        Param("high_auc", float, 0.75, "AUC above which the finding is high.", min=0.5, max=1.0),
        Param(
            "max_tpr_at_1pct_fpr",
            float,
            0.05,
            "TPR at 1% FPR whose CI lower bound above it is a finding (random: 0.01).",
            min=0.0,
            max=1.0,
        ),
        Param("batch_size", int, 512, "Samples per query to the target.", min=1),
    )
    metrics = (
        "auc", "auc_ci_low", "auc_ci_high", "balanced_accuracy", "advantage",
        "tpr_at_1pct_fpr", "tpr_at_1pct_fpr_ci_low", "tpr_at_1pct_fpr_ci_high",
        "tpr_at_01pct_fpr", "n_members", "n_nonmembers", "train_accuracy", "test_accuracy",
        "generalization_gap",
    )  # fmt: skip

    def applicable(self, ctx: CheckContext) -> str | None:
        """Needs training data (the members) and a target that answers queries."""
        if ctx.train is None:
            return "no training data given (--train): members are needed to measure leakage"
        if not isinstance(ctx.target, Target):
            return "the target does not answer label queries"
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Sample balanced members and non-members, score them, measure separability."""
        rng, train = ctx.rng(), ctx.train
        if train is None:  # applicable() guarantees it; keeps the type checker honest
            raise CheckError("no training data")
        n = min(len(train), len(ctx.data), _PAIRS[ctx.budget])
        members = train.subset(np.sort(rng.choice(len(train), n, replace=False)))
        others = ctx.data.subset(np.sort(rng.choice(len(ctx.data), n, replace=False)))
        s_in, acc_in = self._scores(ctx, members.x, members.y)
        s_out, acc_out = self._scores(ctx, others.x, others.y)
        labels = np.concatenate([np.ones(n, np.int64), np.zeros(n, np.int64)])
        m = membership_metrics(labels, np.concatenate([s_in, s_out]), rng=rng,
                               n_boot=_BOOT[ctx.budget])  # fmt: skip
        metrics = _metrics(m, n, acc_in, acc_out)
        attack = "loss threshold" if isinstance(ctx.target, ScoreTarget) else "label-only"
        return CheckOutcome(metrics, tuple(self._findings(m, ctx.params, attack)), (_roc(m),))

    def _scores(self, ctx: CheckContext, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        """Per-record membership scores and the accuracy on those records."""
        target, size = ctx.target, int(ctx.params["batch_size"])
        if isinstance(target, ScoreTarget):
            proba = np.concatenate(
                [np.asarray(target.predict_proba(x[i : i + size])) for i in range(0, len(x), size)]
            )
            if proba.shape != (len(x), target.n_classes) or not np.isfinite(proba).all():
                raise CheckError("predict_proba returned malformed or non-finite probabilities")
            correct = proba.argmax(axis=1) == y
            return loss_scores(proba, y), float(correct.mean())
        pred = np.concatenate([np.asarray(target.predict(x[i : i + size]))
                               for i in range(0, len(x), size)])  # fmt: skip
        correct = pred == y
        return correct.astype(np.float64), float(correct.mean())

    def _findings(self, m: MembershipMetrics, p: Any, attack: str) -> list[Finding]:
        out = []
        evidence = {
            "attack": attack,
            "auc": m.auc,
            "auc_ci": m.auc_ci,
            "tpr_at_1pct_fpr": m.tpr_at_1pct_fpr,
            "tpr_at_1pct_fpr_ci": m.tpr_at_1pct_fpr_ci,
        }
        remedy = (
            "Reduce overfitting (regularization, early stopping, more data), train with "
            "differential privacy (aiarmor harden dp), and serve label-only or rounded outputs "
            "through the aiarmor gateway."
        )
        if m.auc_ci[0] > p["max_auc"]:
            sev = Severity.HIGH if m.auc > p["high_auc"] else Severity.MEDIUM
            out.append(self.finding(
                sev,
                f"Training-set membership is inferable (AUC {m.auc:.3f})",
                f"A {attack} attack separates training records from unseen ones with ROC AUC "
                f"{m.auc:.3f} (95% CI {m.auc_ci[0]:.3f}-{m.auc_ci[1]:.3f}); the policy allows "
                f"{p['max_auc']:.3f}.",
                remedy,
                evidence=evidence,
            ))  # fmt: skip
        if m.tpr_at_1pct_fpr_ci[0] > p["max_tpr_at_1pct_fpr"]:
            out.append(self.finding(
                Severity.MEDIUM,
                f"Some training records are identifiable with confidence "
                f"(TPR {m.tpr_at_1pct_fpr:.1%} at 1% FPR)",
                f"At a 1% false-positive rate the attack finds {m.tpr_at_1pct_fpr:.1%} of the "
                f"members (CI lower bound {m.tpr_at_1pct_fpr_ci[0]:.1%}; random guessing finds "
                "1%). Outlier and rare records are the usual victims.",
                remedy,
                evidence=evidence,
            ))  # fmt: skip
        return out


def _metrics(m: MembershipMetrics, n: int, acc_in: float, acc_out: float) -> dict[str, float]:
    return {
        "auc": m.auc,
        "auc_ci_low": m.auc_ci[0],
        "auc_ci_high": m.auc_ci[1],
        "balanced_accuracy": m.balanced_accuracy,
        "advantage": 2 * m.balanced_accuracy - 1,
        "tpr_at_1pct_fpr": m.tpr_at_1pct_fpr,
        "tpr_at_1pct_fpr_ci_low": m.tpr_at_1pct_fpr_ci[0],
        "tpr_at_1pct_fpr_ci_high": m.tpr_at_1pct_fpr_ci[1],
        "tpr_at_01pct_fpr": m.tpr_at_01pct_fpr,
        "n_members": float(n),
        "n_nonmembers": float(n),
        "train_accuracy": acc_in,
        "test_accuracy": acc_out,
        "generalization_gap": acc_in - acc_out,
    }


def _roc(m: MembershipMetrics) -> Chart:
    """The ROC curve, thinned to at most 200 points, with the random-guess diagonal."""
    keep = np.unique(np.linspace(0, len(m.fpr) - 1, min(len(m.fpr), 200)).astype(int))
    fpr, tpr = m.fpr[keep], m.tpr[keep]
    return Chart(
        id="roc",
        title="Membership inference ROC",
        kind="line",
        series=(
            Series("attack", tuple(float(v) for v in fpr), tuple(float(v) for v in tpr)),
            Series("random guess", (0.0, 1.0), (0.0, 1.0)),
        ),
        x_label="false-positive rate",
        y_label="true-positive rate",
    )
