"""Adapters for the model under test, and ``load_target`` to build one from a SPEC."""

from aiarmor.targets.base import DifferentiableTarget, ScoreTarget, Target, capabilities
from aiarmor.targets.callable_target import CallableLabelTarget, CallableTarget, callable_target
from aiarmor.targets.loading import load_target
from aiarmor.targets.sklearn_target import SklearnLabelTarget, SklearnTarget, sklearn_target
from aiarmor.targets.torch_target import TorchTarget

__all__ = [
    "CallableLabelTarget",
    "CallableTarget",
    "DifferentiableTarget",
    "ScoreTarget",
    "SklearnLabelTarget",
    "SklearnTarget",
    "Target",
    "TorchTarget",
    "callable_target",
    "capabilities",
    "load_target",
    "sklearn_target",
]
