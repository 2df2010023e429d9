"""Adversarial training of a user's PyTorch classifier: PGD-AT (Madry et al.) and TRADES.

:func:`adversarial_training` trains a copy of the model (the caller's module is not touched)
for ``epochs`` passes over ``(x, y)`` in shuffled mini-batches: each batch is attacked with
the method's inner maximisation (:mod:`.inner`) under the threat model, then the parameters
take one optimizer step on the method's outer loss. An optional ``warmup_epochs`` ramps epsilon
linearly from 0 to its final value batch by batch (as in Gowal et al. 2018 and the
"bag of tricks" literature), which helps small models that fail to learn at full epsilon.

Everything random (shuffling, random starts, dropout, the optimizer's internals) comes from
``seed`` with the global torch RNG forked, so the same call gives the same weights and the
caller's random state is left as it was.

Custom loops: ``loss_hook`` receives a :class:`TrainingBatch` (clean and adversarial batch,
epoch, epsilon, and ``default_loss()``) and returns the scalar to minimise, e.g. the default
loss plus a regularizer. For a loop entirely of one's own, call
:func:`~aiarmor.robustness.hardening.inner.pgd_examples` /
:func:`~aiarmor.robustness.hardening.inner.trades_examples` for the inner maximisation and
:func:`~aiarmor.robustness.hardening.inner.pgd_loss` /
:func:`~aiarmor.robustness.hardening.inner.trades_loss` for the outer loss.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from aiarmor.core.errors import ConfigError
from aiarmor.robustness.hardening._checks import as_tensors, check_labels, check_positive, finite
from aiarmor.robustness.hardening.inner import (
    METHODS,
    BatchLoss,
    eval_mode,
    pgd_examples,
    pgd_loss,
    trades_examples,
    trades_loss,
)
from aiarmor.robustness.threat import Norm, ThreatModel

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
"""Builds the optimizer from the parameters to train."""
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingConfig:
    """The settings of :func:`adversarial_training` (validated on creation)."""

    method: str = "pgd"
    """``"pgd"`` (Madry et al.: cross-entropy on PGD examples) or ``"trades"``."""
    epsilon: float
    """Perturbation budget the model is trained against (> 0)."""
    norm: Norm = Norm.LINF
    """``linf`` or ``l2``."""
    bounds: tuple[float, float] = (0.0, 1.0)
    """The valid input domain; training data must lie inside it."""
    steps: int = 10
    """Steps of the inner maximisation."""
    rel_stepsize: float | None = None
    """Step size as a fraction of epsilon (default ``2.5 / steps``, Madry's heuristic)."""
    beta: float = 6.0
    """TRADES: weight of the KL robustness term (6 in the paper's CIFAR-10 runs)."""
    epochs: int = 10
    """Passes over the training data."""
    batch_size: int = 128
    """Mini-batch size."""
    optimizer: str | OptimizerFactory = "adam"
    """``"adam"``, ``"sgd"`` (momentum 0.9) or a factory ``params -> Optimizer``."""
    lr: float = 1e-3
    """Learning rate of the named optimizers."""
    weight_decay: float = 0.0
    """Weight decay of the named optimizers."""
    warmup_epochs: float = 0.0
    """Epochs over which epsilon ramps linearly from 0 to ``epsilon`` (0: full from the start)."""
    seed: int = 0
    """Seed of everything random; the same seed gives the same weights."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not (finite(self.epsilon) and self.epsilon > 0):
            raise ConfigError(f"epsilon must be a finite number > 0, got {self.epsilon!r}")
        try:
            lo, hi = (float(b) for b in self.bounds)
        except (TypeError, ValueError):
            raise ConfigError(f"bounds must be two numbers, got {self.bounds!r}") from None
        threat = ThreatModel(self.norm, self.epsilon, (lo, hi))
        object.__setattr__(self, "norm", threat.norm)
        object.__setattr__(self, "bounds", threat.bounds)
        for name in ("steps", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        check_positive("lr", self.lr)
        check_positive("beta", self.beta, allow_zero=True)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("warmup_epochs", self.warmup_epochs, allow_zero=True)
        if self.rel_stepsize is not None:
            check_positive("rel_stepsize", self.rel_stepsize)
        if isinstance(self.optimizer, str) and self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be adam, sgd or a callable, got {self.optimizer!r}")

    @property
    def step_size(self) -> float:
        """The inner maximisation's absolute step size at full epsilon."""
        rel = self.rel_stepsize if self.rel_stepsize is not None else 2.5 / self.steps
        return rel * self.epsilon

    def epsilon_at(self, progress: float) -> float:
        """Epsilon after ``progress`` epochs (the warm-up ramp, then constant)."""
        if self.warmup_epochs <= 0 or progress >= self.warmup_epochs:
            return self.epsilon
        return self.epsilon * progress / self.warmup_epochs


@dataclass(frozen=True, slots=True)
class EpochStats:
    """Training-set statistics of one epoch, averaged over its batches (weighted by size)."""

    epoch: int
    """1-based epoch number."""
    epsilon: float
    """Epsilon at the end of the epoch (lower than the final one during warm-up)."""
    clean_loss: float
    """Cross-entropy on the clean batches."""
    clean_accuracy: float
    """Accuracy on the clean batches."""
    robust_loss: float
    """Cross-entropy on the training attack's adversarial batches."""
    robust_accuracy: float
    """Accuracy on the training attack's adversarial batches (PGD: the cross-entropy
    maximiser; TRADES: the KL maximiser, a weaker attack on accuracy)."""
    seconds: float
    """Wall time of the epoch."""

    def to_dict(self) -> dict[str, float | int]:
        """JSON form."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class TrainingResult:
    """What :func:`adversarial_training` produced."""

    model: nn.Module
    """The hardened model (a trained copy of the input module), in eval mode."""
    config: TrainingConfig
    """The settings it was trained with."""
    history: tuple[EpochStats, ...]
    """Per-epoch clean and robust training loss and accuracy."""

    @property
    def threat(self) -> ThreatModel:
        """The threat model the model was trained against."""
        return ThreatModel(self.config.norm, self.config.epsilon, self.config.bounds)


@dataclass(frozen=True, slots=True)
class TrainingBatch:
    """What a ``loss_hook`` sees for one mini-batch."""

    model: nn.Module
    """The module being trained (in train mode)."""
    x: torch.Tensor
    """The clean batch."""
    x_adv: torch.Tensor
    """The inner maximisation's adversarial batch (detached)."""
    y: torch.Tensor
    """Labels."""
    epoch: int
    """0-based epoch."""
    index: int
    """0-based batch index within the epoch."""
    epsilon: float
    """Epsilon of this batch (ramped during warm-up)."""
    config: TrainingConfig
    """The training settings."""
    _default: Callable[[], BatchLoss] = field(repr=False)

    def default_loss(self) -> torch.Tensor:
        """The method's own loss for this batch (PGD-AT cross-entropy or TRADES)."""
        return self._default().loss


LossHook = Callable[[TrainingBatch], torch.Tensor]
"""A per-batch hook returning the scalar loss to minimise."""


def adversarial_training(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    *,
    loss_hook: LossHook | None = None,
    progress: Callable[[EpochStats], None] | None = None,
    **settings: Any,
) -> TrainingResult:
    """Adversarially train a copy of ``model`` on ``(x, y)``; see :class:`TrainingConfig`.

    ``settings`` are the fields of :class:`TrainingConfig` (``epsilon`` is required), or
    ``config=TrainingConfig(...)``. ``progress`` is called with each epoch's statistics.
    Bad settings raise ConfigError, bad data (shapes, NaN, labels, values outside the bounds)
    DataError.
    """
    config = settings.pop("config", None)
    if config is None:
        config = TrainingConfig(**_config_kwargs(settings))
    elif settings:
        raise ConfigError("pass either config=TrainingConfig(...) or settings, not both")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"adversarial training needs a torch.nn.Module, got {type(model)}")
    xt, yt = as_tensors(x, y, config.bounds)
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        trained = _trainable_copy(model)
        device = next((p.device for p in trained.parameters()), torch.device("cpu"))
        check_labels(trained, xt[:1].to(device), yt)
        history = _Loop(trained, config, loss_hook, device).run(xt, yt, progress)
    for param in trained.parameters():
        param.requires_grad_(False)
    return TrainingResult(trained.eval(), config, history)


class _Loop:
    """The training loop: one instance per call."""

    def __init__(
        self, model: nn.Module, config: TrainingConfig, hook: LossHook | None, device: Any
    ) -> None:
        self.model, self.config, self.hook, self.device = model, config, hook, device
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = _optimizer(config, params)
        self.generator = torch.Generator().manual_seed(config.seed)

    def run(
        self, x: torch.Tensor, y: torch.Tensor, progress: Callable[[EpochStats], None] | None
    ) -> tuple[EpochStats, ...]:
        history = []
        for epoch in range(self.config.epochs):
            stats = self._epoch(epoch, x, y)
            history.append(stats)
            if progress is not None:
                progress(stats)
        return tuple(history)

    def _epoch(self, epoch: int, x: torch.Tensor, y: torch.Tensor) -> EpochStats:
        started = time.perf_counter()
        order = torch.randperm(len(y), generator=self.generator)
        batches = order.split(self.config.batch_size)  # type: ignore[no-untyped-call]
        sums = np.zeros(4)
        eps = self.config.epsilon
        for index, rows in enumerate(batches):
            eps = self.config.epsilon_at(epoch + index / len(batches))
            xb, yb = x[rows].to(self.device), y[rows].to(self.device)
            sums += self._step(xb, yb, epoch, index, eps)
        cl, ca, rl, ra = (float(v) for v in sums / len(y))
        return EpochStats(epoch + 1, eps, cl, ca, rl, ra, time.perf_counter() - started)

    def _step(self, x: torch.Tensor, y: torch.Tensor, epoch: int, index: int, eps: float) -> Any:
        """Attack, update, and the batch's summed [clean loss, clean hits, adv loss, adv hits]."""
        cfg = self.config
        threat = ThreatModel(cfg.norm, eps, cfg.bounds)
        size, gen = cfg.step_size * eps / cfg.epsilon, self.generator
        if cfg.method == "trades":
            x_adv = trades_examples(self.model, x, threat, steps=cfg.steps, step_size=size,
                                    generator=gen)  # fmt: skip
        else:
            x_adv = pgd_examples(self.model, x, y, threat, steps=cfg.steps, step_size=size,
                                 generator=gen)  # fmt: skip
        self.model.train()
        outcome: list[BatchLoss] = []

        def default() -> BatchLoss:
            if not outcome:
                outcome.append(self._method_loss(x, x_adv, y))
            return outcome[0]

        if self.hook is None:
            loss = default().loss
        else:
            batch = TrainingBatch(self.model, x, x_adv, y, epoch, index, eps, cfg, default)
            loss = _scalar(self.hook(batch))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        return self._batch_sums(x, x_adv, y, outcome[0] if outcome else None)

    def _method_loss(self, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor) -> BatchLoss:
        if self.config.method == "trades":
            return trades_loss(self.model, x, x_adv, y, beta=self.config.beta)
        return pgd_loss(self.model, x_adv, y)

    def _batch_sums(
        self, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, used: BatchLoss | None
    ) -> np.ndarray:
        """Summed statistics, from the logits the loss used where it had them (else eval)."""
        clean = used.clean_logits if used is not None else None
        adv = used.adv_logits if used is not None else None
        if clean is None or adv is None:
            with torch.no_grad(), eval_mode(self.model):
                clean = self.model(x) if clean is None else clean
                adv = self.model(x_adv) if adv is None else adv
        out = []
        for logits in (clean, adv):
            ce = nn.functional.cross_entropy(logits.float(), y, reduction="sum")
            out += [float(ce), float((logits.argmax(dim=1) == y).sum())]
        return np.array(out)


def _config_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` checked against the fields of TrainingConfig."""
    known = set(TrainingConfig.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"unknown training settings: {', '.join(unknown)}")
    if "epsilon" not in settings:
        raise ConfigError("adversarial training needs epsilon")
    return settings


def _trainable_copy(model: nn.Module) -> nn.Module:
    """A deep copy in train mode; all parameters trainable when the caller had frozen all
    (as :class:`~aiarmor.targets.TorchTarget` does), else the caller's choice is kept."""
    trained = copy.deepcopy(model)
    params = list(trained.parameters())
    if not params:
        raise ConfigError("the model has no parameters to train")
    if not any(p.requires_grad for p in params):
        for p in params:
            p.requires_grad_(p.is_floating_point())
    return trained.train()


def _optimizer(config: TrainingConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if callable(config.optimizer):
        opt = config.optimizer(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise ConfigError("the optimizer factory must return a torch.optim.Optimizer")
        return opt
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9,
                               weight_decay=config.weight_decay)  # fmt: skip
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _scalar(loss: object) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
        raise ConfigError("loss_hook must return a scalar tensor that requires grad")
    return loss.reshape(())
