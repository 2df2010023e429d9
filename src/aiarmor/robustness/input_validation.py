"""The ``robustness.input_validation`` check: malformed and out-of-domain inputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiarmor.core.capability import Capability
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register
from aiarmor.robustness.probes import (
    Outcome,
    Probe,
    ProbeKind,
    ProbeResult,
    build_probes,
    run_probe,
)
from aiarmor.targets.base import ScoreTarget

__all__ = [
    "InputValidationCheck",
    "Outcome",
    "Probe",
    "ProbeKind",
    "ProbeResult",
    "build_probes",
    "run_probe",
]

_SAMPLES = {Budget.QUICK: 4, Budget.STANDARD: 8, Budget.THOROUGH: 32}


@dataclass(frozen=True, slots=True)
class _Rule:
    """One finding: which probe results it covers and how it reads."""

    severity: Severity
    title: str
    detail: str
    remediation: str
    standards: tuple[str, ...]
    selects: Callable[[ProbeResult, bool], bool]
    """(result, target has scores) -> whether the result belongs to this finding."""


_REMEDY = (
    "Validate every input before it reaches the model: enforce a schema (dtype and per-sample "
    "shape), reject non-finite values, and reject or clip values outside the valid domain "
    "(--bounds). aiarmor's serving gateway (`aiarmor serve`) can enforce this in front of "
    "the model."
)

_RULES = (
    _Rule(
        Severity.HIGH,
        "No input validation: non-finite inputs get confident answers",
        "The model silently accepted NaN/infinite inputs and answered them with confidence "
        "at or above the threshold ({probes}). There is no input validation: attackers can "
        "drive confident outputs with garbage.",
        _REMEDY,
        ("ATLAS:AML.T0043", "OWASP-ML:ML01"),
        lambda r, _s: r.kind is ProbeKind.NON_FINITE and r.outcome is Outcome.CONFIDENT,
    ),
    _Rule(
        Severity.MEDIUM,
        "Non-finite inputs silently accepted",
        "The label-only target answered NaN/infinite inputs with a label ({probes}); its "
        "confidence cannot be observed, but a decisive label on garbage shows there is no "
        "input validation.",
        _REMEDY,
        ("ATLAS:AML.T0043", "OWASP-ML:ML01"),
        lambda r, s: not s and r.kind is ProbeKind.NON_FINITE and r.outcome is Outcome.ANSWERED,
    ),
    _Rule(
        Severity.MEDIUM,
        "Model outputs NaN or infinite values",
        "The model returned non-finite outputs ({probes}). NaN propagates silently into "
        "downstream decisions: comparisons with NaN are false, so thresholds and arg-max "
        "rules pick arbitrary outcomes.",
        _REMEDY + " Also reject non-finite outputs before they are returned.",
        ("NIST-AI-RMF:MEASURE-2.6",),
        lambda r, _s: r.outcome is Outcome.NAN_OUTPUT,
    ),
    _Rule(
        Severity.MEDIUM,
        "Confident answers on out-of-domain inputs",
        "The model answered inputs far from its data with confidence at or above the "
        "threshold ({probes}). It is overconfident off-distribution: its scores cannot tell "
        "a real input from garbage, which evasion and abuse exploit.",
        _REMEDY + " Consider an out-of-distribution detector or abstention on low density.",
        ("OWASP-ML:ML01", "ATLAS:AML.T0015"),
        lambda r, _s: r.kind is ProbeKind.OUT_OF_DOMAIN and r.outcome is Outcome.CONFIDENT,
    ),
    _Rule(
        Severity.MEDIUM,
        "Wrong-shaped or wrong-typed input silently accepted",
        "The model answered inputs that cannot be a valid sample ({probes}) instead of "
        "rejecting them (shape confusion): a caller's bug or an attacker's malformed request "
        "gets a plausible-looking prediction.",
        _REMEDY,
        ("OWASP-ML:ML01", "NIST-AI-RMF:MEASURE-2.7"),
        lambda r, _s: r.kind is ProbeKind.MALFORMED and r.outcome is not Outcome.REJECTED,
    ),
    _Rule(
        Severity.LOW,
        "Model crashes on valid input variants",
        "The model raised on valid requests in another encoding ({probes}). In serving, "
        "requests like these crash the worker: a denial-of-service risk.",
        "Cast inputs to the model's dtype and handle empty batches before calling the model. "
        + _REMEDY,
        ("ATLAS:AML.T0029",),
        lambda r, _s: r.kind is ProbeKind.VALID_VARIANT and r.outcome is Outcome.REJECTED,
    ),
    _Rule(
        Severity.LOW,
        "Model returns malformed outputs",
        "The model answered with outputs of the wrong shape or that are not probability "
        "vectors ({probes}). Downstream consumers cannot trust such answers.",
        "Validate the model's outputs (shape, finite, rows summing to 1) before returning "
        "them. " + _REMEDY,
        ("NIST-AI-RMF:MEASURE-2.5", "NIST-AI-RMF:MEASURE-2.6"),
        lambda r, _s: r.kind is not ProbeKind.MALFORMED and r.outcome is Outcome.BAD_OUTPUT,
    ),
)


@register
class InputValidationCheck(Check):
    """How the model behaves on malformed and out-of-domain inputs.

    What it detects:
        A model that silently accepts NaN/infinite values, absurd magnitudes, out-of-bounds
        values, noise, wrongly shaped or typed batches, and answers them (often confidently);
        a model that returns NaN; a model that crashes on valid requests in another encoding
        (float64, int, empty batch).

    How:
        A few real samples of the evaluation data (4/8/32 by budget, drawn with the check's
        seeded generator) are turned into probe batches in the target's input shape (tables
        ``(n, d)`` and images ``(n, c, h, w)`` alike): ``nan_one``, ``nan_all``, ``pos_inf``,
        ``neg_inf``, ``huge`` (1e30), ``negative_huge`` (-1e30), ``out_of_bounds`` (100
        domain widths outside ``target.bounds``, else outside the data's range),
        ``random_noise`` (uniform over that domain), ``constant_zero``,
        ``wrong_dtype_float64``, ``wrong_dtype_int``, ``empty_batch``, ``wrong_shape`` (one
        feature too many; channels-last for images) and ``strings``. Each probe is sent
        through ``predict_proba`` (``predict`` for label-only targets); every exception is
        caught and only its type name recorded. Each outcome is ``rejected``, ``nan_output``,
        ``confident`` (garbage answered with top probability >= ``confidence_threshold``),
        ``answered`` or ``bad_output``. Rejecting NaN/Inf/wrong shape/strings is the desired
        behaviour; rejecting float64/int/empty is a crash risk.

    Why it matters:
        Without input validation an attacker drives confident outputs with garbage, NaN flows
        into downstream decisions, a malformed request gets a plausible answer, and a benign
        encoding difference takes a serving worker down.

    Findings:
        high: non-finite inputs answered confidently (ATLAS AML.T0043, OWASP ML01);
        medium: non-finite inputs answered by a label-only target, NaN/Inf outputs (NIST AI
        RMF MEASURE 2.6), confident answers on out-of-domain probes (OWASP ML01, ATLAS
        AML.T0015), wrong-shaped or typed input accepted (OWASP ML01, MEASURE 2.7);
        low: crash on valid variants (ATLAS AML.T0029), malformed outputs.

    Standards:
        OWASP ML01 (input manipulation), NIST AI RMF MEASURE 2.6 (safety) and 2.7 (security
        and resilience), MITRE ATLAS AML.T0043 (craft adversarial data).

    References:
        OWASP Machine Learning Security Top 10 (2023), ML01 Input Manipulation Attack.
        D. Hendrycks, K. Gimpel, "A Baseline for Detecting Misclassified and
        Out-of-Distribution Examples in Neural Networks", ICLR 2017.
        A. Nguyen et al., "Deep Neural Networks are Easily Fooled: High Confidence
        Predictions for Unrecognizable Images", CVPR 2015.
    """

    id = "robustness.input_validation"
    requires = (Capability.LABELS,)
    title = "Input validation"
    summary = (
        "Probes the model with NaN, infinite, huge, out-of-bounds, noisy, mistyped, empty and "
        "wrongly shaped inputs and flags silent acceptance, confident garbage and crashes."
    )
    standards = (
        "OWASP-ML:ML01",
        "NIST-AI-RMF:MEASURE-2.6",
        "NIST-AI-RMF:MEASURE-2.7",
        "ATLAS:AML.T0043",
    )
    params = (
        Param(
            "confidence_threshold",
            float,
            0.9,
            "Top-label probability at or above which an answer on garbage counts as confident.",
            min=0.0,
            max=1.0,
            min_exclusive=True,
        ),
    )
    metrics = (
        "probes",
        "rejected",
        "nan_output",
        "confident_on_garbage",
        "crashed_on_valid_variant",
        "bad_output",
        "max_confidence.*",
    )

    def applicable(self, ctx: CheckContext) -> str | None:
        """Needs evaluation data to build probes (label queries are a declared requirement)."""
        if ctx.data is None or len(ctx.data) == 0:
            return "no evaluation data to build probes from"
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Build the probes, query the target with each, and judge the outcomes."""
        rng = ctx.rng()
        x = np.asarray(ctx.data.x)
        rows = np.sort(rng.choice(len(x), size=min(len(x), _SAMPLES[ctx.budget]), replace=False))
        domain, source = _domain(getattr(ctx.target, "bounds", None), x)
        probes = build_probes(x[rows], domain, rng)
        threshold = float(ctx.params["confidence_threshold"])
        results = []
        for i, probe in enumerate(probes):
            results.append(run_probe(ctx.target, probe, threshold))
            ctx.report(i + 1, len(probes), probe.name)
        context = {"confidence_threshold": threshold, "domain": domain, "domain_from": source}
        return CheckOutcome(
            metrics=_metrics(results),
            findings=self._findings(results, isinstance(ctx.target, ScoreTarget), context),
            charts=(_chart(results),),
        )

    def _findings(
        self, results: list[ProbeResult], scores: bool, context: Mapping[str, Any]
    ) -> tuple[Finding, ...]:
        out = []
        for rule in _RULES:
            hits = [r for r in results if rule.selects(r, scores)]
            if hits:
                names = ", ".join(f"{r.name}: {r.outcome.value}" for r in hits)
                out.append(
                    self.finding(
                        rule.severity,
                        rule.title,
                        rule.detail.format(probes=names),
                        rule.remediation,
                        evidence={**context, "probes": {r.name: r.evidence() for r in hits}},
                        standards=rule.standards,
                    )
                )
        return tuple(out)


def _domain(bounds: Any, x: np.ndarray) -> tuple[tuple[float, float], str]:
    """The valid input range: the target's bounds when usable, else the data's range."""
    try:
        lo, hi = (float(b) for b in bounds)
        if math.isfinite(lo) and math.isfinite(hi) and lo < hi:
            return (lo, hi), "target.bounds"
    except (TypeError, ValueError):
        pass
    lo, hi = float(x.min()), float(x.max())
    return ((lo, hi) if lo < hi else (lo - 0.5, lo + 0.5)), "data range"


def _metrics(results: list[ProbeResult]) -> dict[str, float]:
    def count(pred: Callable[[ProbeResult], bool]) -> float:
        return float(sum(1 for r in results if pred(r)))

    return {
        "probes": float(len(results)),
        "rejected": count(lambda r: r.outcome is Outcome.REJECTED),
        "nan_output": count(lambda r: r.outcome is Outcome.NAN_OUTPUT),
        "confident_on_garbage": count(lambda r: r.outcome is Outcome.CONFIDENT),
        "crashed_on_valid_variant": count(
            lambda r: r.kind is ProbeKind.VALID_VARIANT and r.outcome is Outcome.REJECTED
        ),
        "bad_output": count(lambda r: r.outcome is Outcome.BAD_OUTPUT),
        **{f"max_confidence.{r.name}": r.max_confidence for r in results},
    }


def _chart(results: list[ProbeResult]) -> Chart:
    return Chart(
        id="max_confidence",
        title="Maximum confidence per probe",
        kind="bar",
        series=(
            Series(
                name="max confidence",
                x=tuple(r.name for r in results),
                y=tuple(r.max_confidence for r in results),
            ),
        ),
        x_label="probe",
        y_label="max top-label probability",
    )
