"""The per-input detector ``strip``: :class:`StripDetector`, the poisoning area's STRIP fitted
at start-up on the model's clean reference inputs (configured under ``[models.strip]``), and
:func:`build_input_detectors`, which reads and checks those inputs."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from aiarmor.core.errors import ConfigError
from aiarmor.serving.pipeline.detectors.base import DetectorVerdict, QueryDetector, _rows

if TYPE_CHECKING:
    from aiarmor.poisoning.strip import STRIP
    from aiarmor.serving.settings import InputSchema, ModelSettings
    from aiarmor.targets.base import Target

__all__ = ["StripDetector", "build_input_detectors"]


class StripDetector:
    """STRIP (:class:`aiarmor.poisoning.STRIP`, fitted on the model's clean reference inputs)
    on every request to one model. Score: how many samples of the batch fall below the
    entropy threshold, i.e. look like they carry a backdoor trigger."""

    name = "strip"

    def __init__(self, fitted: STRIP, action: str) -> None:
        self.strip = fitted
        self.action = action

    def observe(self, identity: str, model: str, x: np.ndarray) -> DetectorVerdict:
        entropy = self.strip.score(_rows(x).reshape(x.shape).astype(np.float32))
        low = int((entropy < self.strip.threshold_).sum())
        reason = (
            f"{low} of {len(entropy)} inputs keep their prediction under superimposition "
            f"(entropy below {self.strip.threshold_:.3f}: a backdoor trigger?)"
        )
        return DetectorVerdict(self.name, float(low), low > 0, reason, self.action)


def build_input_detectors(
    model: ModelSettings, target: Target, base_dir: Path
) -> tuple[QueryDetector, ...]:
    """The per-input detectors ``model`` (a ``ModelSettings``) asks for, fitted on ``target``."""
    cfg = model.strip
    if cfg is None:
        return ()
    from aiarmor.poisoning.strip import STRIP

    where = f"models.{model.name}.strip"
    clean = _reference_inputs(base_dir / cfg.reference, model.input, where)
    fitted = STRIP(n_overlays=cfg.n_overlays, frr=cfg.frr, seed=cfg.seed).fit(target, clean)
    return (StripDetector(fitted, cfg.action),)


def _reference_inputs(path: Path, schema: InputSchema, where: str) -> NDArray[np.float32]:
    """Array ``x`` of an ``.npz`` (never unpickled), checked against the input schema."""
    try:
        with np.load(path, allow_pickle=False) as data:
            x = np.asarray(data["x"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{where}.reference: cannot read array x of {path}: {exc}") from None
    if x.dtype.kind not in "biuf" or x.shape[1:] != tuple(schema.shape) or len(x) < 2:
        raise ConfigError(
            f"{where}.reference: x must be numeric with shape (n >= 2, "
            f"{', '.join(map(str, schema.shape))}); got {x.dtype} {x.shape}"
        )
    if not np.isfinite(x).all():
        raise ConfigError(f"{where}.reference: x holds NaN or infinity")
    lo = -math.inf if schema.min is None else schema.min
    hi = math.inf if schema.max is None else schema.max
    if float(x.min()) < lo or float(x.max()) > hi:
        raise ConfigError(f"{where}.reference: x lies outside the model's input range")
    if float(np.abs(x).max()) > float(np.finfo(np.float32).max):  # would become infinity
        raise ConfigError(f"{where}.reference: x holds values that do not fit float32")
    return x.astype(np.float32)
