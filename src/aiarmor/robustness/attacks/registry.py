"""Attacks by name: the registry the evasion budgets draw their ensembles from.

An attack registers once, under a stable name, as an :class:`~.base.Attack` class and the
preset settings that make it that variant (``APGD-T`` is ``APGD`` with ``loss="dlr"`` and
``targeted=True``: variants are configurations). :func:`build_attack` makes an instance from
the name and further keyword settings; the name, not the ``repr``, is what reports show.
Registration is explicit (:func:`register_attack`) and a second, different attack under the
same name is rejected, like checks in :mod:`aiarmor.core.registry`. The built-in attacks are
registered by :mod:`aiarmor.robustness.budgets`, next to the budgets that use them.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiarmor.core.capability import Capability
from aiarmor.core.errors import ConfigError, RegistryError
from aiarmor.robustness.attacks.base import Attack

BUILTIN_ATTACKS_MODULE = "aiarmor.robustness.budgets"
"""The module whose import registers aiarmor's own attacks."""


@dataclass(frozen=True, slots=True)
class AttackSpec:
    """A registered attack: an attack class and the preset settings of this variant."""

    name: str
    """Stable name shown in reports (``APGD-CE``, ``Square``...)."""
    cls: type[Attack[Any]]
    """The attack class."""
    preset: Mapping[str, Any] = field(default_factory=dict)
    """Settings that define the variant; :meth:`build` may not override them."""

    @property
    def needs(self) -> Capability:
        """The target capability the attack requires."""
        return self.cls.needs

    @property
    def settings(self) -> tuple[str, ...]:
        """Every hyperparameter the attack class takes (preset ones included)."""
        return tuple(f.name for f in dataclasses.fields(self.cls))  # type: ignore[arg-type]

    @property
    def summary(self) -> str:
        """The first line of the attack class's docstring."""
        return inspect.cleandoc(self.cls.__doc__ or "").split("\n", 1)[0]

    def build(self, **settings: Any) -> Attack[Any]:
        """An instance with the preset and ``settings`` (ConfigError on unknown or preset
        names)."""
        unknown = sorted(set(settings) - set(self.settings))
        if unknown:
            raise ConfigError(
                f"attack {self.name}: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(self.settings)})"
            )
        fixed = sorted(set(settings) & set(self.preset))
        if fixed:
            raise ConfigError(
                f"attack {self.name}: {', '.join(fixed)} define(s) the variant and cannot be "
                "changed (register another name instead)"
            )
        return self.cls(**self.preset, **settings)


_ATTACKS: dict[str, AttackSpec] = {}


def register_attack(name: str, cls: type[Attack[Any]], **preset: Any) -> AttackSpec:
    """Register ``cls`` (with ``preset`` settings) as ``name``; a different attack already
    registered under that name is rejected (RegistryError)."""
    if not (isinstance(cls, type) and issubclass(cls, Attack)) or inspect.isabstract(cls):
        raise RegistryError(f"attack {name!r}: {cls!r} is not a concrete Attack class")
    if not dataclasses.is_dataclass(cls):
        raise RegistryError(f"attack {name!r}: {cls.__name__} must be a dataclass")
    if not cls.__doc__:
        raise RegistryError(f"attack {name!r}: {cls.__name__} needs a docstring")
    if not isinstance(cls.needs, Capability) or cls.needs.about != "target":
        raise RegistryError(f"attack {name!r}: needs must be a target Capability")
    spec = AttackSpec(name, cls, dict(preset))
    unknown = sorted(set(preset) - set(spec.settings))
    if unknown:
        raise RegistryError(f"attack {name!r}: unknown preset setting(s) {', '.join(unknown)}")
    if name in _ATTACKS and _ATTACKS[name] != spec:
        raise RegistryError(f"attack name {name!r} is already registered")
    _ATTACKS[name] = spec
    return spec


def unregister_attack(name: str) -> None:
    """Remove an attack (for tests and plugins)."""
    _ATTACKS.pop(name, None)


def load_builtin_attacks() -> None:
    """Register aiarmor's own attacks (idempotent)."""
    importlib.import_module(BUILTIN_ATTACKS_MODULE)


def registered_attacks() -> dict[str, AttackSpec]:
    """A copy of the registry, name -> spec, sorted by name (built-ins loaded)."""
    load_builtin_attacks()
    return dict(sorted(_ATTACKS.items()))


def get_attack(name: str) -> AttackSpec:
    """The attack registered as ``name`` (RegistryError when unknown)."""
    load_builtin_attacks()
    try:
        return _ATTACKS[name]
    except KeyError:
        known = ", ".join(sorted(_ATTACKS)) or "none"
        raise RegistryError(f"unknown attack {name!r} (known: {known})") from None


def build_attack(name: str, **settings: Any) -> Attack[Any]:
    """An instance of the attack registered as ``name`` with ``settings``."""
    return get_attack(name).build(**settings)
