"""Training recipes: how aiarmor retrains the user's model to get reference (shadow) models.

Reference-model attacks (RMIA, LiRA) compare the target's answer on a record with the answers
of models trained *the same way* on data that did or did not contain it. A recipe is a
``train_fn(x, y, seed) -> model`` that returns either a ``torch.nn.Module`` (wrapped as a
:class:`~aiarmor.targets.TorchTarget` taking inputs in the data's natural range) or any object
with ``predict_proba``. :func:`recipe_for` finds the recipe of a target:

* one attached with :func:`attach_recipe` (the demo and ``aiarmor harden dp`` attach theirs),
  or a ``train_fn`` attribute of the target;
* for a scikit-learn target, ``sklearn.base.clone`` of its estimator, fitted on the new data
  (with ``random_state`` set from the seed when the estimator has one);
* otherwise none, with the reason: a black-box target cannot be retrained.

:func:`train_classifier` is the default way to train a PyTorch classifier (Adam,
cross-entropy, deterministic for a seed); :func:`retrain_recipe` makes it a recipe that trains
a fresh copy of a given module (``aiarmor harden sanitize`` retrains with it).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from aiarmor.core.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

    from aiarmor.data.dataset import Dataset

TrainFn = Callable[[np.ndarray, np.ndarray, int], Any]
"""``train_fn(x, y, seed) -> model``: the user's training recipe applied to new data."""

_ATTACHED: weakref.WeakKeyDictionary[Any, TrainFn] = weakref.WeakKeyDictionary()


def attach_recipe(target: Any, train_fn: TrainFn) -> Any:
    """Record that ``target`` was trained by ``train_fn``; returns ``target``."""
    if not callable(train_fn):
        raise ConfigError("train_fn must be callable as train_fn(x, y, seed) -> model")
    _ATTACHED[target] = train_fn
    return target


def recipe_for(target: Any) -> tuple[TrainFn | None, str]:
    """The recipe that retrains ``target``'s model, or ``(None, reason)`` when there is none."""
    try:
        attached = _ATTACHED.get(target)
    except TypeError:  # not weak-referenceable
        attached = None
    if attached is not None:
        return attached, "attached recipe"
    own = getattr(target, "train_fn", None)
    if callable(own):
        return own, "target.train_fn"
    estimator = getattr(target, "estimator", None)
    if estimator is not None and hasattr(estimator, "fit"):
        return sklearn_recipe(estimator), "sklearn.base.clone of the estimator"
    return None, (
        f"no training recipe for {getattr(target, 'name', type(target).__name__)}: "
        "reference-model attacks (RMIA, LiRA) need a train_fn (aiarmor audit --recipe "
        "file.py:fn, or aiarmor.privacy.attach_recipe) or a scikit-learn estimator"
    )


def sklearn_recipe(estimator: Any) -> TrainFn:
    """``clone(estimator).fit(x, y)`` with ``random_state`` from the seed, as a score model."""
    from sklearn.base import clone

    def train(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        model = clone(estimator)
        if "random_state" in model.get_params():
            model.set_params(random_state=seed)
        flat = x.reshape(len(x), -1)
        return model.fit(flat, y)

    return train


def score_model(model: Any, n_classes: int) -> Any:
    """What ``train_fn`` returned, as something with ``predict_proba`` over ``n_classes``."""
    import torch

    if isinstance(model, torch.nn.Module):
        from aiarmor.targets.torch_target import TorchTarget

        return TorchTarget(model, n_classes=n_classes, name="reference model")
    if hasattr(model, "estimator") and hasattr(model, "predict_proba"):
        return model
    if hasattr(model, "classes_") and hasattr(model, "predict_proba"):
        from aiarmor.targets.sklearn_target import SklearnTarget

        return SklearnTarget(model, name="reference model")
    if hasattr(model, "predict_proba"):
        return model
    raise ConfigError(
        f"train_fn returned {type(model).__name__}; expected a torch.nn.Module or an object "
        "with predict_proba"
    )


def train_classifier(
    model: nn.Module, train: Dataset, *, epochs: int = 20, lr: float = 2e-3, seed: int = 0
) -> nn.Module:
    """Train ``model`` (parameters reset) with Adam and cross-entropy in batches of 64;
    deterministic for a seed.

    The global torch RNG is forked, so training does not disturb the caller's random state.
    """
    import torch
    from torch import nn

    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for layer in model.modules():
            reset = getattr(layer, "reset_parameters", None)
            if callable(reset):
                reset()
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(y), generator=gen).split(64):  # type: ignore[no-untyped-call]
                opt.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
    return model.eval()


def retrain_recipe(template: nn.Module, *, epochs: int = 20, lr: float = 2e-3) -> TrainFn:
    """A recipe training a fresh copy of ``template`` with :func:`train_classifier`."""
    from aiarmor.data.dataset import Dataset

    template = copy.deepcopy(template)

    def train_fn(x: np.ndarray, y: np.ndarray, seed: int) -> nn.Module:
        fresh = copy.deepcopy(template).requires_grad_(True)  # targets freeze their parameters
        return train_classifier(fresh, Dataset(x=x, y=y, name="sanitized"), epochs=epochs,
                                lr=lr, seed=seed)  # fmt: skip

    return train_fn
