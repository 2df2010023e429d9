"""The query detectors of ``[detection.config]``, built and validated: one table per detector
(name -> options), unknown names and options refused, every number range-checked."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from aiarmor.core.errors import ConfigError
from aiarmor.serving.pipeline.detectors.base import ACTIONS, QueryDetector
from aiarmor.serving.pipeline.detectors.blacklight import BlacklightConfig, BlacklightDetector
from aiarmor.serving.pipeline.detectors.prada import PradaConfig, PradaDetector

__all__ = ["build_detectors"]

# --------------------------------------------------------------------------------- config

_DETECTORS: dict[str, tuple[type[Any], Callable[[Any], QueryDetector]]] = {
    "blacklight": (BlacklightConfig, BlacklightDetector),
    "prada": (PradaConfig, PradaDetector),
}
_RANGES: dict[str, tuple[float, float]] = {
    "window": (1, 100_000), "hashes": (1, 10_000), "match": (1, 10_000),
    "history": (1, 100_000), "duplicates": (1, 100_000), "max_identities": (1, 10_000_000),
    "min_queries": (3, 100_000), "warmup": (1, 100_000), "threshold": (0.0, 1.0),
    "quantization": (1e-12, math.inf), "test_every": (1, 100_000),
}  # fmt: skip


def build_detectors(config: Mapping[str, Any]) -> list[QueryDetector]:
    """The detectors named in ``config`` (name -> options table), validated."""
    if not isinstance(config, Mapping):
        raise ConfigError("detection.config must be a table of detector tables")
    detectors = []
    for name, options in config.items():
        if name not in _DETECTORS:
            known = ", ".join(sorted(_DETECTORS))
            raise ConfigError(f"detection.config: unknown detector {name!r} (known: {known})")
        config_type, factory = _DETECTORS[name]
        detectors.append(factory(_parse(name, config_type, options)))
    return detectors


def _parse(name: str, config_type: type[Any], options: object) -> Any:
    if not isinstance(options, Mapping):
        raise ConfigError(f"detection.config.{name} must be a table")
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    values = {}
    for key, value in options.items():
        where = f"detection.config.{name}.{key}"
        if key not in fields:
            raise ConfigError(f"{where}: unknown option (known: {', '.join(fields)})")
        values[key] = _check(where, key, value, fields[key].default)
    parsed = config_type(**values)
    if name == "prada" and parsed.min_queries > parsed.window:
        raise ConfigError(f"detection.config.{name}: min_queries must not exceed window")
    if name == "prada" and parsed.warmup > parsed.history:
        raise ConfigError(f"detection.config.{name}: warmup must not exceed history")
    if name == "blacklight" and parsed.match > parsed.hashes:
        raise ConfigError(f"detection.config.{name}: match must not exceed hashes")
    return parsed


def _check(where: str, key: str, value: object, default: object) -> object:
    if key == "action":
        if value not in ACTIONS:
            raise ConfigError(f"{where}: must be one of {', '.join(ACTIONS)}")
        return value
    if key == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}: must be an integer")
        return value
    lo, hi = _RANGES[key]
    if isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not lo <= value <= hi:  # type: ignore[operator]
        kind = "an integer" if isinstance(default, int) else "a number"
        raise ConfigError(f"{where}: must be {kind} in [{lo:g}, {hi:g}]")
    return value
