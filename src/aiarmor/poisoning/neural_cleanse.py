"""The ``poisoning.neural_cleanse`` check: reverse-engineer a trigger for every class.

Neural Cleanse (Wang et al., IEEE S&P 2019): for each class t, find the smallest mask m and
pattern p such that stamping them on clean inputs, ``(1 - m) * x + m * p``, makes the model
answer t. A backdoored class needs a much smaller mask than the others (the real trigger is a
shortcut); the anomaly index of the smallest mask norm (median absolute deviation from the
median, scaled by 1.4826) above 2 flags it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aiarmor.core.capability import Capability
from aiarmor.core.findings import Chart, CheckOutcome, Finding, Series, Severity
from aiarmor.core.registry import Budget, Check, CheckContext, Param, register

_WORK = {Budget.QUICK: (60, 64), Budget.STANDARD: (120, 128), Budget.THOROUGH: (300, 256)}
"""(optimization steps, clean samples) per budget."""


@dataclass(frozen=True, slots=True)
class ReversedTriggers:
    """One reverse-engineered trigger per class."""

    masks: np.ndarray
    """Masks in [0, 1], shape ``(k, *mask_shape)``."""
    patterns: np.ndarray
    """Patterns in the input bounds, shape ``(k, *sample_shape)``."""
    norms: np.ndarray
    """L1 norm of each mask, shape ``(k,)``."""
    success: np.ndarray
    """Fraction of the clean samples each trigger sends to its class, shape ``(k,)``."""


def anomaly_index(norms: np.ndarray) -> np.ndarray:
    """How far below the median each norm lies, in consistent-MAD units (only low side)."""
    med = float(np.median(norms))
    mad = 1.4826 * float(np.median(np.abs(norms - med)))
    out: np.ndarray = (med - norms) / max(mad, 1e-12)
    return out


def reverse_engineer(
    target: Any, x: np.ndarray, *, steps: int = 120, lam: float = 0.01, lr: float = 0.1,
    seed: int = 0, progress: Callable[[int, int, str], None] | None = None,
) -> ReversedTriggers:  # fmt: skip
    """Optimize every class's mask and pattern jointly (one batched forward per step);
    ``progress(done, steps, message)`` hears of every twentieth of the steps."""
    k, n = int(target.n_classes), len(x)
    lo, hi = target.bounds if target.bounds is not None else (float(x.min()), float(x.max()))
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    mask_shape = (1, *x.shape[2:]) if x.ndim == 4 else x.shape[1:]  # images: shared over channels
    gen = torch.Generator().manual_seed(seed)
    m_raw = torch.full((k, *mask_shape), -2.0).requires_grad_(True)
    p_raw = (torch.rand((k, *x.shape[1:]), generator=gen) * 2 - 1).requires_grad_(True)
    opt = torch.optim.Adam([m_raw, p_raw], lr=lr)
    labels = torch.arange(k).repeat_interleave(n)
    every = max(1, steps // 20)
    for step in range(steps):
        if progress is not None and step % every == 0:
            progress(step, steps, f"optimizing {k} triggers")
        stamped = _stamp(xt, torch.sigmoid(m_raw), lo + (hi - lo) * torch.sigmoid(p_raw))
        ce = torch.nn.functional.cross_entropy(target.logits(stamped), labels)
        loss = ce + lam * torch.sigmoid(m_raw).flatten(1).sum(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    with torch.inference_mode():
        masks, patterns = torch.sigmoid(m_raw), lo + (hi - lo) * torch.sigmoid(p_raw)
        hits = target.logits(_stamp(xt, masks, patterns)).argmax(dim=1) == labels
    return ReversedTriggers(
        masks=masks.numpy(),
        patterns=patterns.numpy(),
        norms=masks.flatten(1).sum(dim=1).numpy(),
        success=hits.view(k, n).float().mean(dim=1).numpy(),
    )


def _stamp(x: torch.Tensor, masks: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """Every sample stamped with every class's trigger: shape ``(k * n, *sample_shape)``."""
    m, p = masks.unsqueeze(1), patterns.unsqueeze(1)
    return ((1 - m) * x.unsqueeze(0) + m * p).flatten(0, 1)


@register
class NeuralCleanseCheck(Check):
    """Backdoor detection by trigger reverse-engineering (Neural Cleanse).

    What it detects:
        A model with a planted backdoor: a class that a tiny input patch forces, whatever the
        input. For every class the check optimizes the smallest mask and pattern that send
        clean held-out inputs to that class (Wang et al., "Neural Cleanse: Identifying and
        Mitigating Backdoor Attacks in Neural Networks", IEEE S&P 2019). A backdoored class
        needs a far smaller mask; its anomaly index (distance below the median mask norm in
        consistent MAD units) above ``max_anomaly_index`` (2, as in the paper) is a finding
        when the mask is also below ``max_norm_ratio`` of the median. The ratio guard exists
        because on small inputs some clean classes are natural near-shortcuts: on 8x8 digits
        (9 models: BadNets at 5% and 10%, and clean) the anomaly index alone flagged one clean
        model in three, while backdoored classes needed at most 0.64 of the median mask and
        clean ones at least 0.77.

    Why it matters:
        A backdoored model passes every accuracy test and obeys whoever knows the trigger:
        the supply-chain risk of models trained by third parties or on scraped data.

    Needs a differentiable (PyTorch) target and clean held-out data. Its cost grows with the
    number of classes; the budget sets optimization steps and samples.

    Standards: MITRE ATLAS AML.T0018 (Backdoor ML Model) and AML.T0020, OWASP ML10 (Model
    Poisoning) and ML02, NIST AI RMF MEASURE 2.7.
    """

    id = "poisoning.neural_cleanse"
    title = "Backdoor detection (Neural Cleanse)"
    summary = "A class that a small reverse-engineered trigger forces: a planted backdoor."
    standards = ("ATLAS:AML.T0018", "ATLAS:AML.T0020", "OWASP-ML:ML10", "OWASP-ML:ML02",
                 "NIST-AI-RMF:MEASURE-2.7")  # fmt: skip
    requires = (Capability.GRADIENTS,)
    params = (
        Param("max_anomaly_index", float, 2.0, "Anomaly index above which a class is flagged.",
              min=0.0),
        Param(
            "max_norm_ratio",
            float,
            0.7,
            "A flagged class's mask must also be below this fraction of the median mask.",
            min=0.0,
            max=1.0,
        ),
        Param("lam", float, 0.1, "Weight of the mask-size penalty.", min=0.0),
        Param("max_classes", int, 100, "Skip models with more classes than this (cost).",
              min=2),
    )  # fmt: skip
    metrics = (
        "anomaly_index",
        "min_norm_ratio",
        "flagged_classes",
        "mask_l1.*",
        "trigger_success.*",
    )

    def applicable(self, ctx: CheckContext) -> str | None:
        """At least 3 classes (MAD needs a population) and at most ``max_classes`` (gradients
        are a declared requirement)."""
        n, cap = ctx.target.n_classes, ctx.params["max_classes"]
        if not 3 <= n <= cap:
            return (f"Neural Cleanse needs between 3 and max_classes={cap} classes (the median "
                    f"deviation needs a population; each class costs one trigger search), "
                    f"the target predicts {n}")  # fmt: skip
        return None

    def run(self, ctx: CheckContext) -> CheckOutcome:
        """Reverse-engineer all triggers, score their norms, flag outliers."""
        steps, n = _WORK[ctx.budget]
        rows = np.sort(ctx.rng().choice(len(ctx.data), min(n, len(ctx.data)), replace=False))
        with torch.random.fork_rng():
            lam = float(ctx.params["lam"])
            found = reverse_engineer(
                ctx.target,
                ctx.data.x[rows],
                steps=steps,
                lam=lam,
                seed=ctx.torch_seed(),
                progress=ctx.report,
            )
        index = anomaly_index(found.norms)
        ratio = found.norms / max(float(np.median(found.norms)), 1e-12)
        flagged = np.flatnonzero(
            (index > ctx.params["max_anomaly_index"]) & (ratio < ctx.params["max_norm_ratio"])
        )
        metrics = {
            "anomaly_index": float(index.max()),
            "min_norm_ratio": float(ratio.min()),
            "flagged_classes": float(len(flagged)),
        }
        for c in range(len(found.norms)):
            metrics[f"mask_l1.class_{c}"] = float(found.norms[c])
            metrics[f"trigger_success.class_{c}"] = float(found.success[c])
        findings = [self._finding(int(c), found, index) for c in flagged]
        charts = [_chart(found.norms)]
        smallest = int(found.norms.argmin())
        if found.masks.ndim == 4:  # images: show the smallest trigger's mask
            charts.append(_mask_chart(found.masks[smallest][0], smallest))
        return CheckOutcome(metrics, tuple(findings), tuple(charts))

    def _finding(self, c: int, found: ReversedTriggers, index: np.ndarray) -> Finding:
        med = float(np.median(found.norms))
        return self.finding(
            Severity.HIGH,
            f"Backdoor suspected: class {c} is forced by a small trigger",
            f"A reverse-engineered mask of L1 size {found.norms[c]:.1f} (median over classes "
            f"{med:.1f}; anomaly index {index[c]:.2f}) sends {found.success[c]:.0%} of clean "
            f"inputs to class {c}.",
            "Do not deploy this model. Retrain from vetted data (aiarmor harden sanitize), or "
            "apply unlearning/pruning against the recovered trigger, and trace the training "
            "data's provenance.",
            evidence={
                "class": c,
                "mask_l1": float(found.norms[c]),
                "median_l1": med,
                "anomaly_index": float(index[c]),
                "mask": np.round(found.masks[c], 3).tolist(),
            },
        )


def _chart(norms: np.ndarray) -> Chart:
    return Chart(
        id="mask_norms",
        title="Smallest trigger mask per class (L1)",
        kind="bar",
        series=(
            Series(
                "mask L1",
                tuple(f"class {c}" for c in range(len(norms))),
                tuple(float(v) for v in norms),
            ),
        ),
        x_label="class",
        y_label="mask L1 norm",
    )


def _mask_chart(mask: np.ndarray, cls: int) -> Chart:
    """The reverse-engineered mask of one class as an image (bright: where the trigger is)."""
    rows = tuple(
        Series(f"row {r}", tuple(float(c) for c in range(mask.shape[1])),
               tuple(float(v) for v in mask[r]))
        for r in range(mask.shape[0])
    )  # fmt: skip
    return Chart(
        id="smallest_trigger_mask",
        title=f"Recovered trigger mask, class {cls} (smallest)",
        kind="heatmap",
        series=rows,
    )
