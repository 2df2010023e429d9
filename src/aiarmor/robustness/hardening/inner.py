"""The inner maximisation of adversarial training, and the outer losses of PGD-AT and TRADES.

The steps are those of :class:`~aiarmor.robustness.attacks.pgd.PGD` - the same random start,
steepest-ascent direction (:func:`~aiarmor.robustness.attacks.pgd.unit_direction`), input-only
gradient (:func:`~aiarmor.robustness.attacks.eot.loss_and_grad`) and projection
(:meth:`ThreatModel.project`) - but on a module being trained rather than a frozen
:class:`~aiarmor.targets.TorchTarget`, and without PGD's early stop: an evaluation attack may
stop at the first misclassification, while training needs the point of (approximately)
maximal loss, so every sample takes every step (Madry et al.).

The attack runs with the module in eval mode (batch-norm uses its running statistics and is
not updated by adversarial probes, dropout is off), as in the TRADES reference code; the
caller's mode is restored afterwards. Parameter gradients are never touched here.

References:
    A. Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
    ICLR 2018 (PGD adversarial training).
    H. Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy",
    ICML 2019 (TRADES).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from aiarmor.robustness.attacks.eot import Loss, cross_entropy, loss_and_grad
from aiarmor.robustness.attacks.pgd import random_start, unit_direction
from aiarmor.robustness.threat import ThreatModel

METHODS = ("pgd", "trades")
"""The adversarial training methods."""

TRADES_START = 1e-3
"""Standard deviation of TRADES' Gaussian start around the clean input (as in its paper)."""


class _Module:
    """A module seen as the ``logits`` provider the attack helpers expect."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.module(x)
        return out


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode inside the block; every submodule's own mode restored after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def pgd_examples(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    *,
    steps: int,
    step_size: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Madry's inner maximisation: ``steps`` of PGD on cross-entropy from a random start."""
    if threat.epsilon == 0:
        return x.detach().clone()
    with eval_mode(module):
        start = random_start(x.detach(), threat, generator)
        return _ascend(module, x, y, start, threat, cross_entropy, steps, step_size)


def trades_examples(
    module: nn.Module,
    x: torch.Tensor,
    threat: ThreatModel,
    *,
    steps: int,
    step_size: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """TRADES' inner maximisation: PGD on KL(f(x) || f(x')) from a small Gaussian start."""
    if threat.epsilon == 0:
        return x.detach().clone()
    with eval_mode(module):
        with torch.no_grad():
            p_clean = torch.softmax(module(x), dim=1)

        def kl(logits: torch.Tensor, _y: torch.Tensor, _t: torch.Tensor | None) -> torch.Tensor:
            return kl_per_sample(logits, p_clean)

        noise = torch.randn(x.shape, generator=generator).to(x) * TRADES_START
        start = threat.project(x, x.detach() + noise)
        return _ascend(module, x, torch.empty(0), start, threat, kl, steps, step_size)


def _ascend(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    adv: torch.Tensor,
    threat: ThreatModel,
    loss: Loss,
    steps: int,
    step_size: float,
) -> torch.Tensor:
    """``steps`` projected steepest-ascent steps on ``loss`` from ``adv``, every sample."""
    view = _Module(module)
    for _ in range(steps):
        _, _, grad = loss_and_grad(view, adv, y, loss)
        adv = threat.project(x, adv + step_size * unit_direction(grad, threat.norm))
    return adv.detach()


def kl_per_sample(logits_adv: torch.Tensor, p_clean: torch.Tensor) -> torch.Tensor:
    """``KL(p_clean || softmax(logits_adv))`` per sample."""
    log_q = torch.log_softmax(logits_adv, dim=1)
    return nn.functional.kl_div(log_q, p_clean, reduction="none").sum(dim=1)


@dataclass(frozen=True, slots=True)
class BatchLoss:
    """The training loss of one batch and the logits it was computed from."""

    loss: torch.Tensor
    """Scalar to minimise (differentiable w.r.t. the parameters)."""
    clean_logits: torch.Tensor | None
    """Logits of the clean batch, when the loss computed them (TRADES), detached."""
    adv_logits: torch.Tensor
    """Logits of the adversarial batch, detached."""


def pgd_loss(module: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> BatchLoss:
    """PGD-AT's outer loss: the mean cross-entropy on the adversarial batch."""
    logits = module(x_adv)
    loss = nn.functional.cross_entropy(logits, y)
    return BatchLoss(loss, None, logits.detach())


def trades_loss(
    module: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, *, beta: float
) -> BatchLoss:
    """TRADES' outer loss: ``CE(f(x), y) + beta * KL(f(x) || f(x_adv))`` (batch means)."""
    clean = module(x)
    adv = module(x_adv)
    natural = nn.functional.cross_entropy(clean, y)
    robust = kl_per_sample(adv, torch.softmax(clean, dim=1)).mean()
    return BatchLoss(natural + beta * robust, clean.detach(), adv.detach())
