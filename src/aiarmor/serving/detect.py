"""Old path of :mod:`aiarmor.serving.pipeline.detect`, kept for the benchmarks and
callers outside the package: importing it gives that very module (same object, private
names included)."""

import sys

from aiarmor.serving.pipeline import detect as _moved

sys.modules[__name__] = _moved
