"""Data poisoning and backdoors: evaluation generators and model representations.

Detectors (spectral signatures, activation clustering, Neural Cleanse, STRIP) and
sanitize-and-retrain come with the poisoning issue; the generators here are what they are
evaluated on, and a public API for red teams.
"""

from aiarmor.poisoning.generators import (
    PoisonedData,
    badnets,
    badnets_trigger,
    blended,
    label_flip,
)
from aiarmor.poisoning.representations import last_linear, penultimate

__all__ = [
    "PoisonedData",
    "badnets",
    "badnets_trigger",
    "blended",
    "label_flip",
    "last_linear",
    "penultimate",
]
