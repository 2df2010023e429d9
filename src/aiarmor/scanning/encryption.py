"""Moved to :mod:`aiarmor.modelfiles.encryption`; this module keeps the old import path."""

from aiarmor.modelfiles.encryption import *  # noqa: F403
