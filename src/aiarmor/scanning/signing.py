"""Moved to :mod:`aiarmor.modelfiles.signing`; this module keeps the old import path."""

from aiarmor.modelfiles.signing import *  # noqa: F403
