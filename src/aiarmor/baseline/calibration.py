"""Calibration metrics: top-label reliability bins, ECE, MCE and negative log-likelihood.

Stateless functions on NumPy arrays. ``proba`` is ``(n, k)`` class probabilities and ``y`` the
``(n,)`` integer labels. Calibration is measured on the *top label*: the confidence of a
prediction is its largest probability, and it is correct when the arg-max equals the label
(Guo et al., 2017).

References:
    * C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger. "On Calibration of Modern Neural
      Networks." ICML 2017 (ECE with 15 equal-width bins; MCE).
    * M. P. Naeini, G. F. Cooper, M. Hauskrecht. "Obtaining Well Calibrated Probabilities
      Using Bayesian Binning." AAAI 2015.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_BINS = 15
"""The conventional number of equal-width confidence bins (Guo et al., 2017)."""


@dataclass(frozen=True, slots=True)
class ReliabilityBins:
    """Per-bin sums of a top-label reliability diagram over equal-width bins of [0, 1].

    Bin ``i`` holds confidences in ``(edges[i], edges[i + 1]]`` (the first bin also holds 0).
    """

    edges: np.ndarray
    """Bin edges, shape ``(n_bins + 1,)``, from 0 to 1."""
    count: np.ndarray
    """Samples per bin, int64, shape ``(n_bins,)``."""
    confidence_sum: np.ndarray
    """Sum of top-label confidences per bin."""
    correct_sum: np.ndarray
    """Number of correct top-label predictions per bin."""

    @property
    def n_samples(self) -> int:
        """Number of samples binned."""
        return int(self.count.sum())

    @property
    def nonempty(self) -> np.ndarray:
        """Boolean mask of bins holding at least one sample."""
        return np.asarray(self.count > 0)

    @property
    def mean_confidence(self) -> np.ndarray:
        """Mean confidence per non-empty bin."""
        m = self.nonempty
        return np.asarray(self.confidence_sum[m] / self.count[m])

    @property
    def accuracy(self) -> np.ndarray:
        """Accuracy per non-empty bin."""
        m = self.nonempty
        return np.asarray(self.correct_sum[m] / self.count[m])

    @property
    def ece(self) -> float:
        """Expected calibration error: the count-weighted mean |accuracy - confidence|."""
        if self.n_samples == 0:
            return float("nan")
        gaps = np.abs(self.correct_sum - self.confidence_sum)
        return float(gaps.sum() / self.n_samples)

    @property
    def mce(self) -> float:
        """Maximum calibration error: the largest |accuracy - confidence| of a non-empty bin."""
        if self.n_samples == 0:
            return float("nan")
        return float(np.max(np.abs(self.accuracy - self.mean_confidence)))

    @property
    def confidence_gap(self) -> float:
        """Mean confidence minus accuracy: > 0 overconfident, < 0 underconfident."""
        if self.n_samples == 0:
            return float("nan")
        return float((self.confidence_sum.sum() - self.correct_sum.sum()) / self.n_samples)


def reliability_bins(
    proba: np.ndarray, y: np.ndarray, n_bins: int = DEFAULT_BINS
) -> ReliabilityBins:
    """Bin the top-label confidences of ``proba`` into ``n_bins`` equal-width bins."""
    p = np.asarray(proba, dtype=np.float64)
    confidence = p.max(axis=1) if p.shape[0] else np.zeros(0)
    correct = (p.argmax(axis=1) == y).astype(np.float64) if p.shape[0] else np.zeros(0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.digitize(confidence, edges[1:-1], right=True)
    return ReliabilityBins(
        edges=edges,
        count=np.bincount(index, minlength=n_bins).astype(np.int64),
        confidence_sum=np.bincount(index, weights=confidence, minlength=n_bins),
        correct_sum=np.bincount(index, weights=correct, minlength=n_bins),
    )


def expected_calibration_error(
    proba: np.ndarray, y: np.ndarray, n_bins: int = DEFAULT_BINS
) -> float:
    """Top-label expected calibration error with ``n_bins`` equal-width bins."""
    return reliability_bins(proba, y, n_bins).ece


def negative_log_likelihood(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels.

    Probabilities are clipped to ``[eps, 1]`` (``eps`` the float64 machine epsilon, as
    scikit-learn's ``log_loss`` does) so a confidently wrong prediction costs about 36 nats
    instead of infinity.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.shape[0] == 0:
        return float("nan")
    eps = float(np.finfo(np.float64).eps)
    true_p = np.clip(p[np.arange(p.shape[0]), y], eps, 1.0)
    return float(-np.mean(np.log(true_p)))
