"""The ``privacy.membership`` check: does the model reveal who was in its training set?"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiarmor.core.capability import Capability
from aiarmor.core.errors import CheckError
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.privacy.metrics import MembershipMetrics, membership_metrics
from aiarmor.privacy.recipes import recipe_for
from aiarmor.privacy.reference_attacks import MembershipAttackResult, membership_inference
from aiarmor.targets.base import ScoreTarget

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

    When the model can be retrained (a scikit-learn estimator is cloned; a PyTorch model needs
    a recipe, see :func:`aiarmor.privacy.attach_recipe`), the check also trains reference
    models on random halves of the population (the audited members and non-members plus the
    rest of the training and held-out data) and runs RMIA (Zarifzadeh et al., ICML 2024) and
    LiRA offline and online (Carlini et al., S&P 2022); the budget sets how many (quick 1,
    standard 4, thorough 16; the ``reference_models`` parameter overrides it). Their metrics
    carry the attack as prefix (``rmia.auc``, ``lira_online.tpr_at_01pct_fpr``); the
    unprefixed metrics are the baseline's. A target that cannot be retrained (a black box)
    gets the baseline only, and an info finding says why.

    Findings fire on the interval's lower bound of the strongest attack, so noise on small
    samples does not trigger them: AUC above ``max_auc`` (medium; high above ``high_auc``) and
    TPR at 1% FPR above ``max_tpr_at_1pct_fpr``. Every attack is a lower bound on leakage.

    Standards: MITRE ATLAS AML.T0024.000 (Infer Training Data Membership), OWASP ML04
    (Membership Inference Attack), NIST AI RMF MEASURE 2.10 (privacy risk).

    References: Shokri et al., "Membership Inference Attacks against ML Models", S&P 2017;
    Zarifzadeh et al., "Low-Cost High-Power Membership Inference Attacks", ICML 2024;
    Yeom et al., "Privacy Risk in Machine Learning", CSF 2018; Carlini et al., "Membership
    Inference Attacks From First Principles", S&P 2022.
    """

    id = "privacy.membership"
    title = "Membership inference"
    summary = "Whether the model's answers reveal which records were in its training set."
    standards = ("ATLAS:AML.T0024.000", "OWASP-ML:ML04", "NIST-AI-RMF:MEASURE-2.10")
    requires = (Capability.TRAIN, Capability.LABELS)
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
        Param(
            "reference_models",
            int,
            0,
            "Reference models for RMIA/LiRA (0: by budget - quick 1, standard 4, thorough 16).",
            min=0,
            max=256,
        ),
        Param(
            "rmia_gamma",
            float,
            2.0,
            "RMIA's pairwise likelihood-ratio threshold.",
            min=0.0,
            min_exclusive=True,
        ),
        Param(
            "rmia_offline_a",
            float,
            0.3,
            "RMIA's offline scaling of OUT-only references.",
            min=0.0,
            max=1.0,
        ),
    )
    metrics = (
        "auc", "auc_ci_low", "auc_ci_high", "balanced_accuracy", "advantage",
        "tpr_at_1pct_fpr", "tpr_at_1pct_fpr_ci_low", "tpr_at_1pct_fpr_ci_high",
        "tpr_at_01pct_fpr", "n_members", "n_nonmembers", "train_accuracy", "test_accuracy",
        "generalization_gap", "reference_models", "rmia.*", "lira_offline.*", "lira_online.*",
    )  # fmt: skip

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Sample balanced members and non-members, score them, measure separability."""
        rng, train = ctx.rng(), ctx.train
        if train is None:  # requires guarantees it; keeps the type checker honest
            raise CheckError("no training data")
        n = min(len(train), len(ctx.data), _PAIRS[ctx.budget])
        member_rows = np.sort(rng.choice(len(train), n, replace=False))
        other_rows = np.sort(rng.choice(len(ctx.data), n, replace=False))
        members, others = train.subset(member_rows), ctx.data.subset(other_rows)
        s_in, acc_in = self._scores(ctx, members.x, members.y)
        s_out, acc_out = self._scores(ctx, others.x, others.y)
        labels = np.concatenate([np.ones(n, np.int64), np.zeros(n, np.int64)])
        m = membership_metrics(labels, np.concatenate([s_in, s_out]), rng=rng,
                               n_boot=_BOOT[ctx.budget])  # fmt: skip
        metrics = _metrics(m, n, acc_in, acc_out)
        attack = "loss threshold" if isinstance(ctx.target, ScoreTarget) else "label-only"
        attacks = {attack: m}
        extra: list[Finding] = []
        result, skipped = self._reference(ctx, members, others, (member_rows, other_rows))
        if result is not None:
            metrics["reference_models"] = float(result.n_references)
            for name in REFERENCE_ATTACKS:
                if name in result.metrics:
                    attacks[_NAMES[name]] = result.metrics[name]
                    metrics |= _prefixed(name, result.metrics[name])
        else:
            metrics["reference_models"] = 0.0
            extra.append(self._skipped_finding(skipped))
        exposed = _most_exposed(result, member_rows)
        findings = self._findings(attacks, ctx.params, exposed) + extra
        return CheckOutcome(metrics, tuple(findings), (_roc(attacks),))

    def _reference(
        self, ctx: CheckContext, members: Any, others: Any, rows: tuple[np.ndarray, np.ndarray]
    ) -> tuple[MembershipAttackResult | None, str]:
        """RMIA and LiRA with reference models, or None and the reason they cannot run."""
        if not isinstance(ctx.target, ScoreTarget):
            return None, "the target returns labels only; RMIA and LiRA need probabilities"
        train_fn, why = recipe_for(ctx.target)
        if train_fn is None:
            return None, why
        population = _rest(ctx.train, rows[0], ctx.data, rows[1])
        k = int(ctx.params["reference_models"]) or _REFERENCES[ctx.budget]
        if k == 1 and population is None:
            k = 2  # a single reference must not see the audited records: none are left over
        return membership_inference(
            ctx.target, members, others, train_fn=train_fn, n_references=k,
            population=population, seed=ctx.torch_seed() % (2**31), n_boot=_BOOT[ctx.budget],
            gamma=float(ctx.params["rmia_gamma"]), offline_a=float(ctx.params["rmia_offline_a"]),
            progress=ctx.report,
        ), why  # fmt: skip

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

    def _skipped_finding(self, reason: str) -> Finding:
        return self.finding(
            Severity.INFO,
            "Reference-model attacks (RMIA, LiRA) were not run",
            f"Only the baseline attack ran: {reason}. The baseline underestimates leakage, "
            "most of all at low false-positive rates.",
            "Give the audit a training recipe (aiarmor.privacy.attach_recipe(target, train_fn)) "
            "so RMIA and LiRA can train reference models.",
            evidence={"reason": reason},
        )

    def _findings(
        self, attacks: dict[str, MembershipMetrics], p: Any, exposed: list[int]
    ) -> list[Finding]:
        out = []
        by_auc = max(attacks, key=lambda a: attacks[a].auc_ci[0])
        by_tpr = max(attacks, key=lambda a: attacks[a].tpr_at_1pct_fpr_ci[0])
        remedy = (
            "Reduce overfitting (regularization, early stopping, more data), train with "
            "differential privacy (aiarmor harden dp), and serve label-only or rounded outputs "
            "through the aiarmor gateway."
        )
        m = attacks[by_auc]
        if m.auc_ci[0] > p["max_auc"]:
            sev = Severity.HIGH if m.auc > p["high_auc"] else Severity.MEDIUM
            out.append(self.finding(
                sev,
                f"Training-set membership is inferable (AUC {m.auc:.3f})",
                f"A {by_auc} attack separates training records from unseen ones with ROC AUC "
                f"{m.auc:.3f} (95% CI {m.auc_ci[0]:.3f}-{m.auc_ci[1]:.3f}); the policy allows "
                f"{p['max_auc']:.3f}.",
                remedy,
                evidence=_evidence(by_auc, m, exposed),
            ))  # fmt: skip
        m = attacks[by_tpr]
        if m.tpr_at_1pct_fpr_ci[0] > p["max_tpr_at_1pct_fpr"]:
            out.append(self.finding(
                Severity.MEDIUM,
                f"Some training records are identifiable with confidence "
                f"(TPR {m.tpr_at_1pct_fpr:.1%} at 1% FPR)",
                f"At a 1% false-positive rate the {by_tpr} attack finds "
                f"{m.tpr_at_1pct_fpr:.1%} of the members (CI lower bound "
                f"{m.tpr_at_1pct_fpr_ci[0]:.1%}; random guessing finds 1%). Outlier and rare "
                "records are the usual victims.",
                remedy,
                evidence=_evidence(by_tpr, m, exposed),
            ))  # fmt: skip
        return out


REFERENCE_ATTACKS = ("rmia", "lira_offline", "lira_online")
"""Metric prefixes of the reference-model attacks."""
_NAMES = {"rmia": "RMIA", "lira_offline": "LiRA offline", "lira_online": "LiRA online"}
_REFERENCES = {Budget.QUICK: 1, Budget.STANDARD: 4, Budget.THOROUGH: 16}
"""Reference models per budget."""


def _rest(train: Any, member_rows: np.ndarray, data: Any, other_rows: np.ndarray) -> Any:
    """The records not audited (population for the reference models), or None."""
    from aiarmor.data.dataset import Dataset

    keep_t = np.setdiff1d(np.arange(len(train)), member_rows)
    keep_d = np.setdiff1d(np.arange(len(data)), other_rows)
    if len(keep_t) + len(keep_d) < 2:
        return None
    x = np.concatenate([train.x[keep_t], data.x[keep_d]])
    y = np.concatenate([train.y[keep_t], data.y[keep_d]])
    return Dataset(x=x, y=y, name="population")


def _most_exposed(result: MembershipAttackResult | None, member_rows: np.ndarray) -> list[int]:
    """Training-set rows of the members RMIA is surest about (empty without references)."""
    if result is None:
        return []
    return [int(member_rows[i]) for i in result.most_exposed("rmia", 10)]


def _evidence(attack: str, m: MembershipMetrics, exposed: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attack": attack,
        "auc": m.auc,
        "auc_ci": m.auc_ci,
        "tpr_at_1pct_fpr": m.tpr_at_1pct_fpr,
        "tpr_at_1pct_fpr_ci": m.tpr_at_1pct_fpr_ci,
        "tpr_at_01pct_fpr": m.tpr_at_01pct_fpr,
    }
    if exposed:
        out["most_exposed_train_rows"] = exposed
    return out


def _prefixed(name: str, m: MembershipMetrics) -> dict[str, float]:
    """The headline metrics of one reference-model attack, prefixed with its name."""
    return {
        f"{name}.auc": m.auc,
        f"{name}.auc_ci_low": m.auc_ci[0],
        f"{name}.auc_ci_high": m.auc_ci[1],
        f"{name}.balanced_accuracy": m.balanced_accuracy,
        f"{name}.tpr_at_1pct_fpr": m.tpr_at_1pct_fpr,
        f"{name}.tpr_at_1pct_fpr_ci_low": m.tpr_at_1pct_fpr_ci[0],
        f"{name}.tpr_at_1pct_fpr_ci_high": m.tpr_at_1pct_fpr_ci[1],
        f"{name}.tpr_at_01pct_fpr": m.tpr_at_01pct_fpr,
    }


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


def _roc(attacks: dict[str, MembershipMetrics]) -> Chart:
    """Every attack's ROC curve on log-log axes (thinned to 300 points) and the diagonal."""
    series = []
    for name, m in attacks.items():
        keep = np.unique(np.geomspace(1, len(m.fpr), min(len(m.fpr), 300)).astype(int) - 1)
        series.append(Series(name, tuple(float(v) for v in m.fpr[keep]),
                             tuple(float(v) for v in m.tpr[keep])))  # fmt: skip
    return Chart(
        id="roc",
        title="Membership inference ROC (log-log)",
        kind="roc",
        series=(*series, Series("random guess", (1e-4, 1.0), (1e-4, 1.0))),
        x_label="false-positive rate",
        y_label="true-positive rate",
    )
