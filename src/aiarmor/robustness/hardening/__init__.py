"""Hardening against evasion: adversarial training (PGD-AT, TRADES) and its before/after view.

* :func:`adversarial_training` - trains a copy of a PyTorch classifier with PGD adversarial
  training (Madry et al., ICLR 2018) or TRADES (Zhang et al., ICML 2019), deterministic for a
  seed, with an epsilon warm-up and a per-batch loss hook; returns a :class:`TrainingResult`
  (the hardened model and per-epoch clean and robust training loss and accuracy);
* :func:`pgd_examples`, :func:`trades_examples`, :func:`pgd_loss`, :func:`trades_loss` - the
  inner maximisation and the outer losses, for a training loop of one's own;
* :func:`robustness_comparison` - the before/after section (clean and robust accuracy at each
  epsilon) that ``aiarmor harden adversarial`` adds to the hardened model's report;
* :class:`AdversarialHardener` - all of it as a hardener for
  :func:`aiarmor.hardening.run_hardening` (audit, train, audit again, compare).

Example::

    result = adversarial_training(model, x_train, y_train, method="trades", epsilon=0.1,
                                  epochs=10, seed=0)
    hardened = result.model
"""

from aiarmor.robustness.hardening.compare import SECTION_ID, robustness_comparison
from aiarmor.robustness.hardening.hardener import (
    AdversarialHardener,
    hardening_info,
    with_training_epsilon,
)
from aiarmor.robustness.hardening.inner import (
    METHODS,
    BatchLoss,
    pgd_examples,
    pgd_loss,
    trades_examples,
    trades_loss,
)
from aiarmor.robustness.hardening.training import (
    EpochStats,
    LossHook,
    TrainingBatch,
    TrainingConfig,
    TrainingResult,
    adversarial_training,
)

__all__ = [
    "METHODS",
    "SECTION_ID",
    "AdversarialHardener",
    "BatchLoss",
    "EpochStats",
    "LossHook",
    "TrainingBatch",
    "TrainingConfig",
    "TrainingResult",
    "adversarial_training",
    "hardening_info",
    "pgd_examples",
    "pgd_loss",
    "robustness_comparison",
    "trades_examples",
    "trades_loss",
    "with_training_epsilon",
]
