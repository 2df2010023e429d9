"""Registries of plug-ins named by ``module:ATTRIBUTE`` strings (report formats, scan formats,
model-file analysers): one loader, so each registry is only its list of entries."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Protocol, TypeVar


class Named(Protocol):
    """A plug-in: anything with a unique ``name``."""

    @property
    def name(self) -> str:
        """The plug-in's unique name."""
        ...


P = TypeVar("P", bound=Named)


def load_entries(entries: Iterable[str], kind: type[P], noun: str, package: str = "") -> list[P]:
    """Import every ``module:ATTRIBUTE`` entry (``module`` relative to ``package`` when given)
    and return the objects in order; TypeError when one is not a ``kind``, ValueError when two
    share a name (a registry never silently shadows a plug-in)."""
    found: list[P] = []
    for entry in entries:
        module, _, attr = entry.partition(":")
        obj = getattr(importlib.import_module(f"{package}.{module}" if package else module), attr)
        if not isinstance(obj, kind):
            raise TypeError(f"{entry} is not a {kind.__name__}")
        if any(p.name == obj.name for p in found):
            raise ValueError(f"{noun} {obj.name!r} is registered twice")
        found.append(obj)
    return found
