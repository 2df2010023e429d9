"""The record of a model admitted from a trusted pickle, shared by the loader and the audit.

:mod:`aiarmor.targets.pickle_models` writes it when it loads a scan-clean pickle on the
user's explicit trust; the ``supply_chain.pickle_trust`` check reads it into the report.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_PROVENANCE: weakref.WeakKeyDictionary[object, PickleProvenance] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class PickleProvenance:
    """How a pickle-based model was admitted (recorded in the audit report's subject)."""

    path: str
    """The model file."""
    loader: str
    """Which loader ran: ``torch.load(weights_only=True)``, ``... + safe globals`` or
    ``restricted unpickler``."""
    globals: tuple[str, ...]
    """The globals the unpickler was allowed to resolve."""
    scan: Mapping[str, Any] = field(default_factory=dict)
    """Summary of the scan (files, formats, findings by severity, result)."""

    def subject(self) -> dict[str, Any]:
        """The report-subject entry: ``{"trusted_pickle": True, "scan": {...}, ...}``."""
        return {
            "trusted_pickle": True,
            "loader": self.loader,
            "allowed_globals": list(self.globals),
            "scan": dict(self.scan),
        }


def provenance_of(target: object) -> PickleProvenance | None:
    """The provenance of a target built from a trusted pickle, else None."""
    return _PROVENANCE.get(target)


def remember(target: object, provenance: PickleProvenance) -> None:
    """Record that ``target`` was admitted from a trusted pickle."""
    _PROVENANCE[target] = provenance
