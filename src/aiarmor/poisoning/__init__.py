"""Data poisoning and backdoors: evaluation generators and model representations.

STRIP is the run-time detector of trigger-carrying inputs (the serving gateway can reuse it).
Training-set detectors (spectral signatures, activation clustering), Neural Cleanse and
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
from aiarmor.poisoning.strip import STRIP

__all__ = [
    "STRIP",
    "PoisonedData",
    "badnets",
    "badnets_trigger",
    "blended",
    "label_flip",
    "last_linear",
    "penultimate",
]
