"""Calibration metrics: hand-computed values, closed-form extremes and a naive reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss

from aiarmor.baseline import (
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
)


def _binary(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary probabilities predicting class 1 with ``confidence``; labels per ``correct``."""
    proba = np.stack([1.0 - confidence, confidence], axis=1)
    return proba, np.where(correct, 1, 0).astype(np.int64)


def _naive_ece(proba: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Loop-over-bins ECE, written the textbook way, as a second route."""
    conf, pred = proba.max(axis=1), proba.argmax(axis=1)
    total = 0.0
    for i in range(n_bins):
        lo, hi = i / n_bins, (i + 1) / n_bins
        in_bin = (conf > lo) & (conf <= hi) if i else (conf <= hi)
        if in_bin.any():
            gap = abs((pred[in_bin] == y[in_bin]).mean() - conf[in_bin].mean())
            total += in_bin.sum() / len(y) * gap
    return total


def test_ece_and_mce_match_a_hand_computed_example() -> None:
    # Bin (14/15, 1]: confidences 0.95, 0.95, one right one wrong -> gap |0.5 - 0.95| = 0.45.
    # Bin (9/15, 10/15]: confidences 0.65, 0.65, both right -> gap |1 - 0.65| = 0.35.
    proba, y = _binary(np.array([0.95, 0.95, 0.65, 0.65]), np.array([1, 0, 1, 1], dtype=bool))
    bins = reliability_bins(proba, y)
    assert bins.ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.35)
    assert bins.mce == pytest.approx(0.45)
    assert bins.nonempty.sum() == 2
    assert bins.mean_confidence.tolist() == pytest.approx([0.65, 0.95])
    assert bins.accuracy.tolist() == pytest.approx([1.0, 0.5])


def test_ece_is_zero_for_a_perfectly_calibrated_predictor() -> None:
    # 20 samples per confidence level, exactly the matching fraction correct.
    levels = {0.55: 11, 0.75: 15, 0.95: 19}
    conf = np.repeat(list(levels), 20)
    correct = np.concatenate([np.arange(20) < k for k in levels.values()])
    proba, y = _binary(conf, correct)
    assert expected_calibration_error(proba, y) == pytest.approx(0.0, abs=1e-12)
    assert reliability_bins(proba, y).confidence_gap == pytest.approx(0.0, abs=1e-12)


def test_ece_is_large_and_positive_gap_for_an_overconfident_predictor() -> None:
    proba, y = _binary(np.full(100, 0.99), np.arange(100) % 2 == 0)
    bins = reliability_bins(proba, y)
    assert bins.ece == pytest.approx(0.49)
    assert bins.confidence_gap == pytest.approx(0.49)


def test_underconfident_predictor_has_negative_gap() -> None:
    proba, y = _binary(np.full(50, 0.6), np.ones(50, dtype=bool))
    assert reliability_bins(proba, y).confidence_gap == pytest.approx(-0.4)


def test_nll_matches_scikit_learn_log_loss() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(40, 4))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, size=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # y_pred -> y_proba rename in 1.9
        expected = log_loss(y, proba, labels=[0, 1, 2, 3])
    assert negative_log_likelihood(proba, y) == pytest.approx(expected)


def test_nll_is_finite_for_a_confidently_wrong_prediction() -> None:
    proba = np.array([[1.0, 0.0]])
    assert negative_log_likelihood(proba, np.array([1])) == pytest.approx(
        -np.log(np.finfo(np.float64).eps)
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    k=st.integers(2, 6),
    temperature=st.floats(0.05, 5.0),
)
def test_ece_agrees_with_naive_loop_and_is_bounded(
    seed: int, n: int, k: int, temperature: float
) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) / temperature
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    y = rng.integers(0, k, size=n)
    bins = reliability_bins(proba, y)
    assert bins.ece == pytest.approx(_naive_ece(proba, y), abs=1e-12)
    assert 0.0 <= bins.ece <= bins.mce + 1e-12 <= 1.0 + 1e-12
    assert bins.n_samples == n
