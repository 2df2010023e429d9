"""Old path of :mod:`aiarmor.serving.http.app`, kept for the benchmarks and
callers outside the package: importing it gives that very module (same object, private
names included)."""

import sys

from aiarmor.serving.http import app as _moved

sys.modules[__name__] = _moved
