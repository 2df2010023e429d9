"""STRIP: a run-time detector of trojaned (backdoor-triggered) inputs (Gao et al., ACSAC 2019).

A backdoor trigger dominates the model's decision: superimpose a triggered input with clean
images and the prediction barely moves (low entropy); superimpose a clean input and it does.
The detector is fitted on clean held-out inputs, which also set the entropy threshold for a
chosen false-rejection rate. Any score target works (no gradients), so the serving gateway can
run it per request.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiarmor.core.errors import ConfigError
from aiarmor.targets.base import ScoreTarget


class STRIP:
    """STRong Intentional Perturbation detector; scikit-learn estimator conventions.

    ``n_overlays`` clean images are superimposed on each input (pixel-wise sum, clipped to the
    target's bounds, as in the paper; ``strength`` scales the overlay), and the mean Shannon
    entropy of the predictions is the input's score. ``fit`` sets ``threshold_`` at the
    ``frr`` quantile of clean scores, so about ``frr`` of clean inputs are falsely flagged.
    """

    def __init__(
        self, *, n_overlays: int = 32, strength: float = 1.0, frr: float = 0.05, seed: int = 0
    ) -> None:
        self.n_overlays = n_overlays
        self.strength = strength
        self.frr = frr
        self.seed = seed

    def __repr__(self) -> str:
        return (
            f"STRIP(n_overlays={self.n_overlays}, strength={self.strength}, frr={self.frr}, "
            f"seed={self.seed})"
        )

    def fit(self, target: Any, clean: np.ndarray) -> STRIP:
        """Keep ``clean`` as the overlay pool and calibrate the threshold on it."""
        if not isinstance(target, ScoreTarget):
            raise ConfigError("STRIP needs a target that returns probabilities")
        if not 0.0 < self.frr < 1.0 or self.n_overlays < 1 or self.strength <= 0:
            raise ConfigError("STRIP needs 0 < frr < 1, n_overlays >= 1 and strength > 0")
        if len(clean) < 2:
            raise ConfigError("STRIP needs at least two clean inputs to fit")
        self.target_ = target
        self.pool_ = np.asarray(clean, dtype=np.float32)
        bounds = getattr(target, "bounds", None)
        self.bounds_ = bounds if bounds is not None else (float(clean.min()), float(clean.max()))
        self.clean_scores_ = self._entropy(self.pool_, offset=1)
        self.threshold_ = float(np.quantile(self.clean_scores_, self.frr))
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        """Mean prediction entropy under superimposition (low: likely trojaned)."""
        return self._entropy(np.asarray(x, dtype=np.float32), offset=2)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """True where the input is flagged as carrying a trigger."""
        flagged: np.ndarray = self.score(x) < self.threshold_
        return flagged

    def _entropy(self, x: np.ndarray, *, offset: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, offset])
        idx = rng.integers(0, len(self.pool_), (len(x), self.n_overlays))
        lo, hi = self.bounds_
        out = np.empty(len(x))
        for start in range(0, len(x), 64):  # bounded memory: 64 inputs x n_overlays at a time
            stop = min(start + 64, len(x))
            mixed = np.clip(
                x[start:stop, None] + self.strength * self.pool_[idx[start:stop]], lo, hi
            ).astype(np.float32)
            p = np.asarray(self.target_.predict_proba(mixed.reshape(-1, *x.shape[1:])))
            p = p.reshape(stop - start, self.n_overlays, -1)
            out[start:stop] = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(axis=2).mean(axis=1)
        return out
