"""Input gradients for the white-box attacks, with Expectation over Transformation (EOT).

Every white-box attack of aiarmor takes its gradients from :func:`loss_and_grad`: one forward
pass and one backward pass with respect to the *input only* (TorchTarget freezes the
parameters), returning the logits too, so an attack tests success on the logits of the step it
is taking and never pays an extra forward pass for it.

A randomized model (random resizing, noise injection, dropout at inference, stochastic
activations) answers the same input differently on every query. Its single-sample gradient is
a poor direction; EOT (Athalye, Carlini and Wagner, "Obfuscated Gradients Give a False Sense of
Security", ICML 2018; Athalye et al., "Synthesizing Robust Adversarial Examples", ICML 2018)
averages the loss gradient over ``samples`` draws of the model's randomness. The draws run as
one batch (the input repeated ``samples`` times), and every row counts as a query.
:func:`is_randomized` detects such a model by querying the same inputs twice.

The losses are those of the attacks: cross-entropy (Madry et al., ICLR 2018), the
difference-of-logits ratio and its targeted version (Croce and Hein, "Reliable evaluation of
adversarial robustness with an ensemble of diverse parameter-free attacks", ICML 2020), and the
logit margin (Carlini and Wagner, S&P 2017). Each returns one value per sample; attacks ascend
it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from aiarmor.core.errors import ConfigError
from aiarmor.targets.base import DifferentiableTarget, ScoreTarget

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
"""``(logits, labels, target_labels or None) -> per-sample loss`` that an attack ascends."""


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy of the true label (untargeted) or minus that of the target label."""
    if t is None:
        return torch.nn.functional.cross_entropy(logits, y, reduction="none")
    return -torch.nn.functional.cross_entropy(logits, t, reduction="none")


def margin(logits: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
    """Logit margin: best other (or target) logit minus the true logit; > 0 means fooled."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    if t is not None:
        return logits.gather(1, t[:, None]).squeeze(1) - true
    others = logits.scatter(1, y[:, None], float("-inf"))
    return others.amax(dim=1) - true


def dlr(logits: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
    """Difference-of-logits ratio (Croce and Hein 2020), shift- and scale-invariant.

    Untargeted: ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)``; targeted:
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``, where ``z_pi1 >= z_pi2 >= ...`` are the
    sorted logits. With too few classes for the denominator (3 untargeted, 4 targeted) it is the
    plain :func:`margin`.
    """
    k = logits.shape[1]
    if k < (3 if t is None else 4):
        return margin(logits, y, t)
    top = logits.topk(4 if t is not None else 3, dim=1).values
    numerator = margin(logits, y, t)
    if t is None:
        return numerator / (top[:, 0] - top[:, 2] + 1e-12)
    return numerator / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


LOSSES: dict[str, Loss] = {"ce": cross_entropy, "dlr": dlr, "margin": margin}
"""The losses attacks can be configured with, by name."""


def get_loss(name: str) -> Loss:
    """The loss called ``name`` (ConfigError when unknown)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown loss {name!r} (expected one of {sorted(LOSSES)})") from None


def loss_and_grad(
    target: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: Loss,
    *,
    t: torch.Tensor | None = None,
    samples: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits, per-sample loss and the loss gradient w.r.t. ``x``, averaged over ``samples``.

    With ``samples > 1`` (EOT) the input is repeated ``samples`` times in one batch; the
    logits returned are the mean over the draws (what the success test should use on a
    randomized model), the loss and gradient are the means of the per-draw ones.
    """
    xa = x.detach().requires_grad_(True)
    if samples == 1:
        logits = target.logits(xa)
        values = loss(logits, y, t)
    else:
        rows = _repeat(xa, samples)
        logits_all = target.logits(rows)
        values = loss(logits_all, y.repeat(samples), None if t is None else t.repeat(samples))
        values = values.view(samples, len(x)).mean(dim=0)
        logits = logits_all.view(samples, len(x), -1).mean(dim=0)
    (grad,) = torch.autograd.grad(values.sum(), xa)
    return logits.detach(), values.detach(), grad


def logits_only(target: Any, x: torch.Tensor, *, samples: int = 1) -> torch.Tensor:
    """Logits without autograd (the mean over ``samples`` draws for a randomized model)."""
    with torch.inference_mode():
        if samples == 1:
            out: torch.Tensor = target.logits(x)
            return out
        mean: torch.Tensor = target.logits(_repeat(x, samples)).view(samples, len(x), -1).mean(0)
        return mean


def is_randomized(target: Any, x: torch.Tensor | np.ndarray, *, rtol: float = 1e-5) -> bool:
    """Whether ``target`` answers the same inputs differently on two consecutive queries.

    Compares logits (white-box), probabilities (score targets) or labels; differences within
    ``rtol`` of the output scale are float noise, not randomness.
    """
    if len(x) == 0:
        return False
    if isinstance(target, DifferentiableTarget):
        xt = torch.as_tensor(x, dtype=torch.float32)
        with torch.inference_mode():
            first, second = target.logits(xt), target.logits(xt)
        scale = float(first.abs().max()) + 1e-12
        return bool(float((first - second).abs().max()) > rtol * scale)
    xn = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if isinstance(target, ScoreTarget):
        a, b = np.asarray(target.predict_proba(xn)), np.asarray(target.predict_proba(xn))
        return bool(np.abs(a - b).max() > rtol)
    return bool((np.asarray(target.predict(xn)) != np.asarray(target.predict(xn))).any())


def _repeat(x: torch.Tensor, samples: int) -> torch.Tensor:
    """``x`` stacked ``samples`` times along the batch axis (draw-major)."""
    return x.unsqueeze(0).expand(samples, *x.shape).reshape(samples * len(x), *x.shape[1:])
