"""The aiarmor exception tree.

Every error the library raises on purpose derives from :class:`AiarmorError`, so callers can
catch one type. The CLI turns any ``AiarmorError`` into a one-line message on stderr and exit
code 2 ("the tool could not do its job")::

    AiarmorError                  root; never raised directly
    ├── InputError                bad input given by the user (exit 2)
    │   ├── DataError             a dataset is missing, malformed, NaN-laden, mis-shaped
    │   ├── ModelLoadError        a model SPEC cannot be resolved or loaded
    │   │   └── UnsafeModelError  loading would deserialize untrusted data (pickle, ...)
    │   └── ConfigError           a bad option or argument
    │       └── PolicyError       a policy file is unreadable or invalid
    ├── RegistryError             a check id or attack name is unknown or registered twice
    └── CheckError                a check could not finish (becomes an ``error`` status)
"""

from __future__ import annotations


class AiarmorError(Exception):
    """Root of every error aiarmor raises on purpose."""


class InputError(AiarmorError):
    """The user gave input the tool cannot work with."""


class DataError(InputError):
    """A dataset is missing, malformed, mis-shaped or contains non-finite values."""


class ModelLoadError(InputError):
    """A model specification cannot be resolved or loaded."""


class UnsafeModelError(ModelLoadError):
    """Loading the model would deserialize untrusted data (e.g. an unvetted pickle)."""


class ConfigError(InputError):
    """A command-line option, argument or parameter is invalid."""


class PolicyError(ConfigError):
    """A policy file cannot be read or does not follow the policy contract."""


class RegistryError(AiarmorError):
    """A check id or attack name is unknown, or two checks (attacks) claim the same one."""


class CheckError(AiarmorError):
    """A check could not complete; the orchestrator records it as an ``error`` status."""
