"""Old path of :mod:`aiarmor.serving.audit.store`, kept for the benchmarks and
callers outside the package: importing it gives that very module (same object, private
names included)."""

import sys

from aiarmor.serving.audit import store as _moved

sys.modules[__name__] = _moved
