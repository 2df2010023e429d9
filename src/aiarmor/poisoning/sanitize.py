"""Sanitize and retrain: remove (or relabel) the suspected poison and train the model again.

:func:`detect_poison` runs the training-set detectors on a model's penultimate
representations; :func:`sanitize` drops the suspected rows, or relabels each with its
runner-up class (the best class other than its label: for backdoor poison, its true source
class); :func:`sanitize_and_retrain` does both, retrains with the user's recipe
(``train_fn(x, y, seed) -> nn.Module``) and measures clean accuracy and - when the trigger is
known - attack success rate before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from aiarmor.core.errors import ConfigError
from aiarmor.data.dataset import Dataset
from aiarmor.poisoning.detectors import ActivationClustering, SpectralSignatures
from aiarmor.poisoning.representations import penultimate_and_logits

METHODS = ("spectral", "activation_clustering", "both")
"""Detector choices: either detector, or the union of both."""

TrainFn = Callable[[np.ndarray, np.ndarray, int], nn.Module]
"""A training recipe: ``train_fn(x, y, seed)`` returns a freshly trained model."""

Trigger = Callable[[np.ndarray], np.ndarray]
"""Stamps a backdoor trigger on a batch of inputs (e.g. :func:`badnets_trigger`)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """Suspected poison in a training set."""

    suspected: np.ndarray
    """Row indices of the suspected samples, sorted."""
    runner_up: np.ndarray
    """The runner-up class of each suspected sample (the relabeling candidate)."""
    poisoned_classes: tuple[int, ...]
    """Classes judged poisoned by any detector."""


@dataclass(frozen=True, slots=True)
class Sanitized:
    """A sanitized training set."""

    data: Dataset
    """The training set after removal or relabeling."""
    changed: np.ndarray
    """Row indices (into the original training set) that were removed or relabeled."""
    relabeled: bool
    """True when the rows were relabeled, False when removed."""


@dataclass(frozen=True, slots=True)
class ModelScore:
    """A model's clean accuracy and attack success rate."""

    accuracy: float
    """Accuracy on the clean held-out data."""
    attack_success: float | None
    """Share of triggered held-out inputs (outside the target class) sent to the target
    class; None when the trigger is not known."""


@dataclass(frozen=True, slots=True)
class SanitizeResult:
    """What :func:`sanitize_and_retrain` produced."""

    model: nn.Module
    """The retrained model."""
    detection: Detection
    """What the detectors flagged."""
    sanitized: Sanitized
    """The training set it was retrained on."""
    before: ModelScore
    """The original model's scores."""
    after: ModelScore
    """The retrained model's scores."""


def detect_poison(target: Any, train: Dataset, *, method: str = "both", seed: int = 0) -> Detection:
    """Run the chosen detector(s) on ``target``'s representations of ``train``."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    feats, logits = penultimate_and_logits(target, train.x)
    detectors: list[Any] = []
    if method in ("spectral", "both"):
        detectors.append(SpectralSignatures())
    if method in ("activation_clustering", "both"):
        detectors.append(ActivationClustering(seed=seed))
    fitted = [d.fit(feats, train.y, logits=logits) for d in detectors]
    suspected = np.unique(np.concatenate([d.suspected_ for d in fitted])).astype(np.int64)
    classes = sorted({c for d in fitted for c in d.poisoned_classes_})
    rest = logits[suspected].copy()
    rest[np.arange(len(suspected)), train.y[suspected]] = -np.inf
    return Detection(suspected, rest.argmax(axis=1).astype(np.int64), tuple(classes))


def sanitize(train: Dataset, detection: Detection, *, relabel: bool = False) -> Sanitized:
    """Remove the suspected rows, or relabel them with their runner-up class."""
    rows = detection.suspected
    if relabel:
        y = train.y.copy()
        y[rows] = detection.runner_up
        data = Dataset(x=train.x, y=y, sensitive=train.sensitive, name=f"{train.name} (relabeled)",
                       feature_names=train.feature_names, classes=train.classes)  # fmt: skip
        return Sanitized(data, rows, True)
    keep = np.ones(len(train), dtype=bool)
    keep[rows] = False
    if keep.sum() == 0:
        raise ConfigError("every training sample was flagged; nothing is left to train on")
    return Sanitized(train.subset(keep), rows, False)


def score_model(
    target: Any, test: Dataset, *, trigger: Trigger | None = None, target_class: int | None = None
) -> ModelScore:
    """Clean accuracy, and attack success rate when ``trigger`` and ``target_class`` are given."""
    accuracy = float((target.predict(test.x) == test.y).mean())
    if trigger is None or target_class is None:
        return ModelScore(accuracy, None)
    others = test.x[test.y != target_class]
    if len(others) == 0:
        raise ConfigError(f"the held-out data has no samples outside class {target_class}")
    asr = float((target.predict(trigger(others)) == target_class).mean())
    return ModelScore(accuracy, asr)


def sanitize_and_retrain(
    target: Any,
    train: Dataset,
    test: Dataset,
    *,
    train_fn: TrainFn,
    method: str = "both",
    relabel: bool = False,
    trigger: Trigger | None = None,
    target_class: int | None = None,
    seed: int = 0,
) -> SanitizeResult:
    """Detect poison in ``train`` with ``target``, sanitize, retrain with ``train_fn``, score.

    ``target`` is the (possibly backdoored) PyTorch target trained on ``train``; ``test`` is
    clean held-out data. Give ``trigger`` and ``target_class`` to measure attack success.
    """
    from aiarmor.targets import TorchTarget

    if (trigger is None) != (target_class is None):
        raise ConfigError("give both the trigger and the target class, or neither")
    detection = detect_poison(target, train, method=method, seed=seed)
    cleaned = sanitize(train, detection, relabel=relabel)
    model = train_fn(cleaned.data.x, cleaned.data.y, seed)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"train_fn must return a torch.nn.Module, got {type(model).__name__}")
    retrained = TorchTarget(model.eval(), n_classes=target.n_classes, bounds=target.bounds,
                            name=f"{target.name} (sanitized)")  # fmt: skip
    before = score_model(target, test, trigger=trigger, target_class=target_class)
    after = score_model(retrained, test, trigger=trigger, target_class=target_class)
    return SanitizeResult(model, detection, cleaned, before, after)
