"""The ``poisoning.spectral`` and ``poisoning.activation_clustering`` checks.

Both read the model's penultimate representations of the training data and run a
:mod:`aiarmor.poisoning.detectors` detector per class; a class judged poisoned is a finding
whose evidence lists the suspected rows (indices into the training data) with their scores.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from aiarmor.core.capability import Capability
from aiarmor.core.errors import CheckError
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.poisoning._perclass import MIN_CLASS_SIZE, ClassAnalysis
from aiarmor.poisoning.detectors import ActivationClustering, SpectralSignatures
from aiarmor.poisoning.representations import penultimate_and_logits

_MAX_ROWS = {Budget.QUICK: 10_000, Budget.STANDARD: 60_000, Budget.THOROUGH: 1_000_000}
"""Training rows examined per budget (a seeded sample beyond that)."""

_SHOWN_ROWS = 100
"""Suspected rows listed in a finding's evidence (highest score first)."""

_STANDARDS = ("ATLAS:AML.T0020", "ATLAS:AML.T0018", "OWASP-ML:ML02", "OWASP-ML:ML10",
              "NIST-AI-RMF:MEASURE-2.7")  # fmt: skip


def _common(min_z: float, min_gap: float) -> tuple[Param, ...]:
    return (
        Param("min_z", float, min_z,
              "A poisoned class's separation must be this robust z-score above the others'.",
              min=0.0),
        Param("min_entropy_gap", float, min_gap,
              "Runner-up entropy gap (nats) between a poisoned class's two sides.", min=0.0),
    )  # fmt: skip


_METRICS = ("n_examined", "n_suspected", "suspected_rate", "poisoned_classes",
            "separation.*", "suspected.*")  # fmt: skip


class _PoisonCheck(Check, ABC):
    """Shared run: representations of the training data -> detector -> findings and charts."""

    method: ClassVar[str]
    separation_name: ClassVar[str]
    requires = (Capability.TRAIN, Capability.REPRESENTATIONS)
    metrics = _METRICS
    standards = _STANDARDS

    @abstractmethod
    def detector(self, ctx: CheckContext) -> Any:
        """The configured detector."""

    def applicable(self, ctx: CheckContext) -> str | None:
        """Needs a class of at least ``MIN_CLASS_SIZE`` training samples (the training data and
        the model's penultimate representations are declared requirements)."""
        if ctx.train is None:  # guaranteed by requires; keeps the type checker honest
            return Capability.TRAIN.missing
        if np.bincount(ctx.train.y).max() < MIN_CLASS_SIZE:
            return f"poison detection needs a class with at least {MIN_CLASS_SIZE} samples"
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Sample rows, read representations and logits, detect, summarize."""
        ds = ctx.train
        if ds is None:  # requires guarantees it; keeps the type checker honest
            raise CheckError("no training data")
        rows = np.arange(len(ds))
        if len(ds) > _MAX_ROWS[ctx.budget]:
            rows = np.sort(ctx.rng().choice(len(ds), _MAX_ROWS[ctx.budget], replace=False))
        feats, logits = penultimate_and_logits(ctx.target, ds.x[rows])
        det = self.detector(ctx).fit(feats, ds.y[rows], logits=logits)
        metrics = {"n_examined": float(len(rows)), "n_suspected": float(len(det.suspected_)),
                   "suspected_rate": len(det.suspected_) / len(rows),
                   "poisoned_classes": float(len(det.poisoned_classes_))}  # fmt: skip
        for a in det.classes_:
            metrics[f"separation.class_{a.label}"] = a.separation
            metrics[f"suspected.class_{a.label}"] = float(a.n_suspected)
        findings = [self._finding(a, det, rows, ds.y[rows]) for a in det.classes_ if a.poisoned]
        return CheckOutcome(metrics, tuple(findings), (self._chart(det.classes_),))

    def _finding(
        self, a: ClassAnalysis, det: Any, rows: np.ndarray, y: np.ndarray
    ) -> Finding:  # fmt: skip
        mine = det.suspected_[y[det.suspected_] == a.label]
        order = mine[np.argsort(-det.scores_[mine], kind="stable")]
        shown = [{"row": int(rows[i]), "score": round(float(det.scores_[i]), 4)}
                 for i in order[:_SHOWN_ROWS]]  # fmt: skip
        return self.finding(
            Severity.HIGH,
            f"Poisoned training data suspected in class {a.label}: {a.n_suspected} samples",
            f"{a.n_suspected} of the {a.n} training samples labelled {a.label} form a separate "
            f"population in the model's penultimate representations ({self.method}: "
            f"{self.separation_name} {a.separation:.2f}, robust z {a.outlier_z:.1f} against "
            "the other classes) - the signature of a backdoor's relabelled poison.",
            "Review the listed rows (the evidence lists the highest-scoring ones), remove or "
            "relabel them and retrain (aiarmor harden sanitize); trace the data's provenance "
            "and check the model for a trigger (poisoning.neural_cleanse).",
            evidence={
                **a.to_dict(),
                "suspected_rows": shown,
                "n_rows_not_shown": max(0, len(order) - _SHOWN_ROWS),
            },
        )

    def _chart(self, classes: tuple[ClassAnalysis, ...]) -> Chart:
        labels = tuple(f"class {a.label}" for a in classes)
        return Chart(
            id="separation",
            title=f"How clearly each class splits in two ({self.separation_name})",
            kind="bar",
            series=(Series(self.separation_name, labels, tuple(a.separation for a in classes)),),
            x_label="class",
            y_label=self.separation_name,
        )


@register
class SpectralSignaturesCheck(_PoisonCheck):
    """Poisoned training samples found by spectral signatures, per class.

    What it detects:
        Training samples planted by a backdoor (data) poisoning attack. Following Tran, Li
        and Madry ("Spectral Signatures in Backdoor Attacks", NeurIPS 2018), each class's
        penultimate representations are centred and projected on their top singular vector,
        where poison separates from clean samples. Unlike the paper, which removes a fixed
        1.5 x eps of every class, a class is judged poisoned only when its split is clearly
        separated (Cohen's d >= ``min_separation``) and an outlier among the classes (robust
        z >= ``min_z``) whose two sides also differ in runner-up entropy by
        ``min_entropy_gap`` nats (0.6: clean 8x8 digits split classes 1 and 9 by writing style
        with d 4.6-4.9 and gaps of 0.33-0.49; BadNets poison, drawn from every other class,
        shows about 1), so clean classes stay quiet; samples are flagged by a robust
        (median/MAD) distance from the clean side. On Fashion-MNIST with a small CNN and
        BadNets at 5% and 10% it reaches F1 above 0.95 (bench/bench_poisoning.py).

    Why it matters:
        A backdoored model passes every accuracy test; removing the poison and retraining
        removes the backdoor. Needs the training data and a PyTorch model.

    Standards: MITRE ATLAS AML.T0020 (Poison Training Data), AML.T0018 (Backdoor ML Model),
    OWASP ML02 (Data Poisoning) and ML10 (Model Poisoning), NIST AI RMF MEASURE 2.7.
    """

    id = "poisoning.spectral"
    title = "Poisoned training samples (spectral signatures)"
    summary = "Training samples that separate along a class's top singular direction: poison."
    method = "spectral signatures"
    separation_name = "Cohen's d along the top singular vector"
    params = (
        Param("min_separation", float, 4.0, "Cohen's d a poisoned class's split must reach.",
              min=0.0),
        *_common(3.0, 0.6),
        Param("max_sample_z", float, 4.0,
              "Samples this many robust SDs beyond the clean side's median are flagged.",
              min=0.0),
    )  # fmt: skip

    def detector(self, ctx: CheckContext) -> SpectralSignatures:
        """The configured SpectralSignatures."""
        p = ctx.params
        return SpectralSignatures(min_separation=float(p["min_separation"]),
                                  min_z=float(p["min_z"]),
                                  min_entropy_gap=float(p["min_entropy_gap"]),
                                  max_sample_z=float(p["max_sample_z"]))  # fmt: skip


@register
class ActivationClusteringCheck(_PoisonCheck):
    """Poisoned training samples found by activation clustering, per class.

    What it detects:
        Training samples planted by a backdoor (data) poisoning attack. Following Chen et
        al. ("Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering",
        SafeAI@AAAI 2019), each class's penultimate representations are reduced to their top
        ``n_components`` principal directions and split with 2-means. Unlike the paper, which
        calls the smaller cluster poison, a class is judged poisoned only when its silhouette
        reaches ``min_separation`` and is an outlier among the classes (robust z >=
        ``min_z``), and the poisoned cluster is the one whose runner-up predictions spread
        over many source classes - which still works when the poison is half of the target
        class. On Fashion-MNIST with a small CNN and BadNets at 5% and 10% it reaches F1 above
        0.95 (bench/bench_poisoning.py).

    Why it matters:
        A backdoored model passes every accuracy test; removing the poison and retraining
        removes the backdoor. Needs the training data and a PyTorch model.

    Standards: MITRE ATLAS AML.T0020 (Poison Training Data), AML.T0018 (Backdoor ML Model),
    OWASP ML02 (Data Poisoning) and ML10 (Model Poisoning), NIST AI RMF MEASURE 2.7.
    """

    id = "poisoning.activation_clustering"
    title = "Poisoned training samples (activation clustering)"
    summary = "A class whose representations split into two clusters: relabelled poison."
    method = "activation clustering"
    separation_name = "silhouette of the 2-means split"
    params = (
        Param("min_separation", float, 0.4, "Silhouette a poisoned class's split must reach.",
              min=0.0, max=1.0),
        *_common(1.5, 0.6),
        Param("n_components", int, 10, "Principal directions kept before clustering.", min=1),
    )  # fmt: skip

    def detector(self, ctx: CheckContext) -> ActivationClustering:
        """The configured ActivationClustering (seeded from the run)."""
        p = ctx.params
        return ActivationClustering(n_components=int(p["n_components"]),
                                    min_separation=float(p["min_separation"]),
                                    min_z=float(p["min_z"]),
                                    min_entropy_gap=float(p["min_entropy_gap"]),
                                    seed=int(ctx.rng().integers(2**31)))  # fmt: skip
