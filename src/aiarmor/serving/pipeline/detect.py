"""Stateful detectors of query patterns: black-box evasion attacks and model extraction.

Each detector keeps a small state per (identity, model) in an LRU of at most
``max_identities`` entries, with fixed-size windows, so memory is bounded whatever the
traffic, and the work per query does not grow with the number of clients.

* ``blacklight`` (Li et al., USENIX Security 2022; :mod:`.detectors.blacklight`): a
  query-based attack queries many near-copies of one input; the identity is flagged once
  ``duplicates`` of its recent queries share enough hashed fingerprints with earlier ones.
  Score: the number of near-duplicates among the recent queries.
* ``prada`` (Juuti et al., EuroS&P 2019; :mod:`.detectors.prada`): natural queries have
  minimum distances to the earlier queries of the same client that look normally
  distributed, synthesized extraction queries do not (Shapiro-Wilk, :mod:`.detectors.stats`).
  Score: ``1 - W`` (0 looks natural); a flagged identity stays flagged.

Per model, a per-input detector may run as well: ``strip`` (:class:`StripDetector`, the
poisoning area's STRIP fitted at start-up on the model's clean reference inputs, configured
under ``[models.strip]``) flags batches with inputs whose prediction a superimposed clean
input barely moves, the mark of a backdoor trigger. Anything with the :class:`QueryDetector`
``observe`` method can be passed to ``create_app(detectors=...)`` or put in
``ServedModel.detectors`` (an out-of-distribution score, say).

Configuration (``[detection.config]`` of gateway.toml, read by :mod:`.detectors.build`): one
table per detector, e.g. ``blacklight = { quantization = 0.2, action = "throttle" }``; an
empty table enables a detector with its defaults, an absent one leaves it off. Blacklight's
``quantization`` is in input units: the default (0.2) suits inputs in [0, 1] (the paper's 50
of 255). Every score is "higher is more suspicious"; ``action`` (log | alert | throttle |
block) is carried in each verdict for the gateway to apply when ``flagged``.

This module is the detectors' one import path: it re-exports the public names of the modules
of :mod:`aiarmor.serving.pipeline.detectors`.
"""

from __future__ import annotations

from aiarmor.serving.pipeline.detectors.base import ACTIONS, DetectorVerdict, QueryDetector
from aiarmor.serving.pipeline.detectors.blacklight import BlacklightConfig, BlacklightDetector
from aiarmor.serving.pipeline.detectors.build import build_detectors
from aiarmor.serving.pipeline.detectors.prada import PradaConfig, PradaDetector
from aiarmor.serving.pipeline.detectors.stats import shapiro_w as shapiro_w
from aiarmor.serving.pipeline.detectors.strip import StripDetector, build_input_detectors

__all__ = [
    "ACTIONS",
    "BlacklightConfig",
    "BlacklightDetector",
    "DetectorVerdict",
    "PradaConfig",
    "PradaDetector",
    "QueryDetector",
    "StripDetector",
    "build_detectors",
    "build_input_detectors",
]
