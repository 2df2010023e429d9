"""Data poisoning and backdoors: detectors, sanitize-and-retrain, evaluation generators.

Training-set detectors (:class:`SpectralSignatures`, :class:`ActivationClustering`) flag
poisoned samples from a model's penultimate representations; :func:`sanitize_and_retrain`
removes or relabels them and retrains. STRIP is the run-time detector of trigger-carrying
inputs (the serving gateway can reuse it). The generators are what the detectors are
evaluated on, and a public API for red teams.
"""

from aiarmor.poisoning.detectors import ActivationClustering, SpectralSignatures
from aiarmor.poisoning.generators import (
    PoisonedData,
    badnets,
    badnets_trigger,
    blended,
    label_flip,
)
from aiarmor.poisoning.representations import last_linear, penultimate
from aiarmor.poisoning.sanitize import (
    Detection,
    ModelScore,
    Sanitized,
    SanitizeResult,
    detect_poison,
    sanitize,
    sanitize_and_retrain,
    score_model,
)
from aiarmor.poisoning.strip import STRIP

__all__ = [
    "STRIP",
    "ActivationClustering",
    "Detection",
    "ModelScore",
    "PoisonedData",
    "SanitizeResult",
    "Sanitized",
    "SpectralSignatures",
    "badnets",
    "badnets_trigger",
    "blended",
    "detect_poison",
    "label_flip",
    "last_linear",
    "penultimate",
    "sanitize",
    "sanitize_and_retrain",
    "score_model",
]
