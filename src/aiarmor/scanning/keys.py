"""Moved to :mod:`aiarmor.modelfiles.keys`; this module keeps the old import path."""

from aiarmor.modelfiles.keys import *  # noqa: F403
