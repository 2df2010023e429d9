"""Differentially private training of a PyTorch classifier with DP-SGD (Opacus).

:func:`train_dp` trains a model from a fresh initialization with per-sample gradient clipping
and Gaussian noise calibrated by Opacus so that the whole run spends at most
``target_epsilon`` at ``delta`` (Abadi et al., CCS 2016), and reports the epsilon the
accountant (``rdp`` or ``prv``) actually records. Poisson sampling is on by default: the
privacy analysis assumes it. Layers DP-SGD cannot handle (BatchNorm mixes samples of a batch)
are replaced by Opacus's ``ModuleValidator.fix`` (GroupNorm) when ``fix=True``, else refused
with the validator's reason. :func:`dp_recipe` turns the same settings into a ``train_fn``, so
the membership audit trains its reference models the way the DP model was trained.

The guarantee is only as good as the accountant's assumptions: one record per individual,
Poisson sampling, and a seeded (not cryptographically secure) noise generator, which Opacus
warns is fine for research and auditing but not for a deployment against a strong adversary
(``secure_mode``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from aiarmor.core.errors import ConfigError
from aiarmor.data.dataset import Dataset
from aiarmor.privacy.recipes import TrainFn

ACCOUNTANTS = ("rdp", "prv")
"""Privacy accountants Opacus offers for the epsilon calibration and report."""


@dataclass(frozen=True, slots=True)
class DPSettings:
    """How to train with DP-SGD."""

    target_epsilon: float
    """The privacy budget the whole run may spend."""
    delta: float | None = None
    """The delta of (epsilon, delta)-DP; None: ``1 / (10 n)`` for ``n`` training records."""
    accountant: str = "prv"
    """``rdp`` (Renyi DP) or ``prv`` (privacy random variables, tighter)."""
    max_grad_norm: float = 1.0
    """Per-sample gradient clipping norm."""
    epochs: int = 20
    """Passes over the data."""
    batch_size: int = 64
    """Expected batch size (the sampling rate is ``batch_size / n``)."""
    lr: float = 2e-3
    """Adam learning rate."""
    poisson_sampling: bool = True
    """Poisson sampling of batches (what the accountant assumes)."""
    seed: int = 0
    """Seed of initialization, sampling and noise."""

    def validate(self) -> None:
        """One-line ConfigError for any setting out of range."""
        if not (math.isfinite(self.target_epsilon) and self.target_epsilon > 0):
            raise ConfigError(
                f"target epsilon must be a positive number, got {self.target_epsilon}"
            )
        if self.delta is not None and not 0 < self.delta < 1:
            raise ConfigError(f"delta must be in (0, 1), got {self.delta}")
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(f"accountant must be one of {', '.join(ACCOUNTANTS)}, "
                              f"got {self.accountant!r}")  # fmt: skip
        if not self.max_grad_norm > 0 or not self.lr > 0:
            raise ConfigError("max grad norm and learning rate must be positive")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch size must be at least 1")


@dataclass(frozen=True, slots=True)
class DPTrainingResult:
    """A DP-trained model and what its training spent."""

    model: nn.Module
    """The trained model (plain module, eval mode)."""
    epsilon: float
    """The epsilon spent, as the accountant reports it at ``delta``."""
    delta: float
    """The delta of the guarantee."""
    noise_multiplier: float
    """Noise standard deviation relative to ``max_grad_norm``, calibrated by Opacus."""
    steps: int
    """Optimizer steps taken."""
    sample_rate: float
    """Probability of each record being in a batch."""
    settings: DPSettings
    """The settings it was trained with."""
    fixed_layers: tuple[str, ...]
    """Validator messages of the layers that were replaced (e.g. BatchNorm -> GroupNorm)."""


def validate_module(model: nn.Module, *, fix: bool = True) -> tuple[nn.Module, tuple[str, ...]]:
    """``model`` made DP-SGD compatible (fixed when ``fix``), and the problems found."""
    from opacus.validators import ModuleValidator

    found = ModuleValidator.validate(model, strict=False)
    problems = tuple(_first_sentence(e) for e in found)
    if not problems:
        return model, ()
    if not fix:
        raise ConfigError(f"the model cannot be trained with DP-SGD: {problems[0]}")
    fixed = ModuleValidator.fix(model)
    left = ModuleValidator.validate(fixed, strict=False)
    if left:
        raise ConfigError(f"the model cannot be trained with DP-SGD: {_first_sentence(left[0])}")
    return fixed, problems


def _first_sentence(error: object) -> str:
    text = " ".join(str(error).split())
    return text.split(". ")[0].rstrip(".")


def train_dp(
    model: nn.Module, train: Dataset, settings: DPSettings, *, fix: bool = True
) -> DPTrainingResult:
    """Train ``model`` (re-initialized) on ``train`` with DP-SGD under ``settings``."""
    settings.validate()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"DP training needs a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(train, Dataset) or len(train) < 2:
        raise ConfigError("DP training needs a Dataset of at least 2 records")
    model, fixed = validate_module(model.train(), fix=fix)
    for param in model.parameters():  # a TorchTarget froze them
        param.requires_grad_(True)
    delta = settings.delta if settings.delta is not None else 1.0 / (10 * len(train))
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        _reset(model)
        private, engine, steps, rate = _fit(model, train, settings, delta)
    epsilon = float(engine.accountant.get_epsilon(delta=delta))
    module = getattr(private, "_module", private)
    module.eval()
    noise = float(engine_noise(engine))
    return DPTrainingResult(module, epsilon, delta, noise, steps, rate, settings, fixed)


def _fit(
    model: nn.Module, train: Dataset, s: DPSettings, delta: float
) -> tuple[nn.Module, Any, int, float]:
    """Opacus's make_private_with_epsilon and the training loop."""
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.from_numpy(train.x), torch.from_numpy(train.y))
    gen = torch.Generator().manual_seed(s.seed)
    loader = DataLoader(data, batch_size=min(s.batch_size, len(train)), shuffle=True, generator=gen)
    engine = PrivacyEngine(accountant=s.accountant, secure_mode=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=s.lr)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*largest alpha.*")  # RDP search detail
        warnings.filterwarnings("ignore", message=".*full_backward_hook.*")
        private, optimizer, loader = engine.make_private_with_epsilon(
            module=model, optimizer=optimizer, data_loader=loader, target_epsilon=s.target_epsilon,
            target_delta=delta, epochs=s.epochs, max_grad_norm=s.max_grad_norm,
            poisson_sampling=s.poisson_sampling,
            noise_generator=torch.Generator().manual_seed(s.seed + 1),
        )  # fmt: skip
        steps = _loop(private, optimizer, loader, s.epochs)
    return private, engine, steps, float(optimizer.expected_batch_size / len(train))


def _loop(model: nn.Module, optimizer: Any, loader: Any, epochs: int) -> int:
    """Plain cross-entropy epochs; Poisson batches may be empty and are skipped."""
    model.train()
    steps = 0
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad(set_to_none=True)
            if len(yb):
                nn.functional.cross_entropy(model(xb), yb).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            steps += 1
    return steps


def engine_noise(engine: Any) -> float:
    """The noise multiplier the accountant recorded (the last one used)."""
    history = getattr(engine.accountant, "history", [])
    return float(history[-1][0]) if history else float("nan")


def _reset(model: nn.Module) -> None:
    """Fresh initialization of every layer that knows how to reset itself."""
    for layer in model.modules():
        reset = getattr(layer, "reset_parameters", None)
        if callable(reset):
            reset()


def dp_recipe(build: Callable[[], nn.Module], settings: DPSettings) -> TrainFn:
    """A ``train_fn(x, y, seed)`` training ``build()`` with DP-SGD under ``settings``."""
    from dataclasses import replace

    def train(x: np.ndarray, y: np.ndarray, seed: int) -> nn.Module:
        data = Dataset(x=x, y=y, name="reference")
        return train_dp(build(), data, replace(settings, seed=seed)).model

    return train
