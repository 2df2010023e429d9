"""Runtime query-pattern detectors: aiarmor's own black-box attacks (Square, HopSkipJump) are
flagged by Blacklight within a bounded number of queries, a Jacobian-augmentation extraction by
PRADA, natural digits by neither; state stays bounded; config errors are one line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from aiarmor.core.errors import ConfigError, DataError
from aiarmor.robustness.attacks import HopSkipJump, Square, run_attack
from aiarmor.robustness.threat import ThreatModel
from aiarmor.serving.pipeline.detect import (
    BlacklightConfig,
    BlacklightDetector,
    DetectorVerdict,
    PradaConfig,
    PradaDetector,
    build_detectors,
)
from aiarmor.targets.callable_target import callable_target


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)  # the paper's setting: inputs in [0, 1]
    model = LogisticRegression(max_iter=300).fit(x[:1000], y[:1000])
    return x, y, model


def _recorded_attack(digits: Any, attack: Any, output: str, n: int = 4) -> list[np.ndarray]:
    """Run ``attack`` on ``n`` held-out digits; every batch the model was asked, in order."""
    x, y, model = digits
    asked: list[np.ndarray] = []

    def fn(batch: np.ndarray) -> np.ndarray:
        asked.append(np.array(batch))
        return model.predict(batch) if output == "labels" else model.predict_proba(batch)

    target = callable_target(fn, n_classes=10, output=output, bounds=(0.0, 1.0))  # type: ignore[arg-type]
    threat = ThreatModel("linf", 0.05)
    run_attack(attack, target, torch.tensor(x[1500 : 1500 + n]), torch.tensor(y[1500 : 1500 + n]),
               threat, seed=0)  # fmt: skip
    return asked


def _first_flag(detector: Any, batches: list[np.ndarray], identity: str = "attacker") -> int:
    """Queries (samples) sent until the first flagged verdict; -1 if never."""
    sent = 0
    for batch in batches:
        sent += len(batch)
        if detector.observe(identity, "digits", batch).flagged:
            return sent
    return -1


def test_square_attack_is_flagged_by_blacklight(digits: Any) -> None:
    batches = _recorded_attack(digits, Square(n_queries=300, p_init=0.3), "proba")
    total = sum(len(b) for b in batches)
    sent = _first_flag(BlacklightDetector(BlacklightConfig(seed=0)), batches)
    assert 0 < sent <= 40, (sent, total)
    assert total > 100  # the attack went on far longer than it took to notice it


def test_hopskipjump_is_flagged_by_blacklight(digits: Any) -> None:
    attack = HopSkipJump(max_queries=300, init_evals=20, max_evals=50)
    batches = _recorded_attack(digits, attack, "labels", n=2)
    sent = _first_flag(BlacklightDetector(BlacklightConfig(seed=0)), batches)
    assert 0 < sent <= 150, sent


def _natural(digits: Any, n: int, seed: int) -> Iterator[np.ndarray]:
    x = digits[0]
    for i in np.random.default_rng(seed).permutation(len(x))[:n]:
        yield x[i : i + 1]


@pytest.mark.parametrize("seed", [0, 1])
def test_natural_queries_are_not_flagged(digits: Any, seed: int) -> None:
    detectors = [BlacklightDetector(BlacklightConfig(seed=seed)), PradaDetector()]
    for batch in _natural(digits, 600, seed):
        verdicts = [d.observe("client", "digits", batch) for d in detectors]
        assert not any(v.flagged for v in verdicts), [v.reason for v in verdicts]
    assert verdicts[1].reason.startswith("Shapiro-Wilk W=")  # PRADA did test


def _jacobian_augmentation(digits: Any, seeds: int = 20, rounds: int = 4) -> Iterator[np.ndarray]:
    """Papernot et al.'s extraction: label seeds, fit a surrogate, add x + lambda*sign(grad)."""
    x, _, model = digits
    known = x[np.random.default_rng(0).permutation(len(x))[:seeds]]
    yield from (row[None] for row in known)
    for _ in range(rounds):
        labels = model.predict(known)
        surrogate = LogisticRegression(max_iter=200).fit(known, labels)
        classes = list(surrogate.classes_)
        grad = surrogate.coef_[[classes.index(c) for c in labels]]
        new = np.clip(known + 0.1 * np.sign(grad), 0, 1).astype(np.float32)
        yield from (row[None] for row in new)
        known = np.concatenate([known, new])


def test_jacobian_augmentation_extraction_is_flagged_by_prada(digits: Any) -> None:
    detector = PradaDetector(PradaConfig(min_queries=50, test_every=5))
    stream = list(_jacobian_augmentation(digits))
    sent = _first_flag(detector, stream)
    assert 0 < sent <= 150, sent
    assert detector.observe("attacker", "digits", stream[-1]).flagged  # it stays flagged
    assert not detector.observe("someone-else", "digits", stream[-1]).flagged


def test_state_is_per_identity_and_model(digits: Any) -> None:
    batches = _recorded_attack(digits, Square(n_queries=100, p_init=0.3), "proba")
    detector = BlacklightDetector(BlacklightConfig(seed=0))
    assert _first_flag(detector, batches, "mallory") > 0
    assert _first_flag(detector, batches[:1], "alice") == -1  # fresh state
    assert not detector.observe("mallory", "other-model", batches[0]).flagged


def test_memory_stays_bounded_with_many_identities(digits: Any) -> None:
    x = digits[0]
    blacklight = BlacklightDetector(BlacklightConfig(max_identities=50, history=16, seed=0))
    prada = PradaDetector(PradaConfig(max_identities=50, history=16, min_queries=3, window=8))
    for i in range(2000):
        for detector in (blacklight, prada):
            detector.observe(f"id-{i}", "digits", x[i % len(x)][None])
    for i in range(200):  # one busy identity: its windows stop growing
        for detector in (blacklight, prada):
            detector.observe("busy", "digits", x[i][None])
    assert len(blacklight._states) == 50 and len(prada._states) == 50
    busy_b = blacklight._states.get("busy", "digits")
    busy_p = prada._states.get("busy", "digits")
    # 64 values have 45 windows of 20, so at most 45 fingerprints: the rows are that wide
    assert busy_b.fps is not None and busy_b.fps.rows.shape == (16, 45)
    assert busy_b.fps.filled == 16
    assert busy_p.queries is not None and busy_p.queries.rows.shape == (16, 64)
    assert busy_p.dists.shape == (8,)


def test_a_longer_query_widens_the_stored_fingerprints() -> None:
    detector = BlacklightDetector(BlacklightConfig(seed=0, duplicates=3))
    rng = np.random.default_rng(0)
    short = rng.uniform(0, 1, (1, 24))  # 5 windows of 20
    assert not detector.observe("eve", "m", short).flagged
    state = detector._states.get("eve", "m")
    assert state.fps is not None and state.fps.rows.shape[1] == 5
    long = rng.uniform(0, 1, (1, 64))  # 45 windows
    flags = [detector.observe("eve", "m", long + 1e-4 * i).flagged for i in range(4)]
    assert state.fps.rows.shape[1] == 45
    assert flags == [False, False, False, True]  # near-copies 2, 3 and 4 are duplicates
    assert detector.observe("eve", "m", short).score == 4.0  # the short one matches its copy


@pytest.mark.parametrize("n", [3, 7, 12, 13, 100, 101, 200, 1000, 6000])
def test_shapiro_w_equals_scipys(n: int) -> None:
    import warnings

    from scipy import stats

    from aiarmor.serving.pipeline.detect import shapiro_w

    rng = np.random.default_rng(n)
    for sample in (rng.normal(size=n), rng.exponential(size=n), rng.uniform(size=n) ** 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns about p-values for n > 5000
            expected = stats.shapiro(sample).statistic
        assert shapiro_w(sample) == pytest.approx(expected, abs=1e-7)
    assert shapiro_w(np.full(n, 2.5)) == 0.0


def test_batches_count_every_sample(digits: Any) -> None:
    x = digits[0]
    detector = BlacklightDetector(BlacklightConfig(seed=0, duplicates=3))
    same = np.repeat(x[:1], 4, axis=0)  # one request of four copies: three are duplicates
    verdict = detector.observe("a", "m", same)
    assert verdict.flagged and verdict.score == 3.0


def test_build_detectors_and_actions() -> None:
    assert build_detectors({}) == []
    detectors = build_detectors(
        {"blacklight": {"quantization": 0.1, "action": "block", "seed": 3}, "prada": {}}
    )
    assert [d.name for d in detectors] == ["blacklight", "prada"]
    verdict = detectors[0].observe("a", "m", np.zeros((2, 64)))
    assert isinstance(verdict, DetectorVerdict) and verdict.action == "block"
    assert detectors[1].observe("a", "m", np.zeros(64)).action == "alert"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"nope": {}}, "unknown detector 'nope'"),
        ({"prada": {"thresold": 0.9}}, "prada.thresold: unknown option"),
        ({"prada": {"threshold": 2}}, "prada.threshold: must be a number in [0, 1]"),
        ({"prada": {"window": True}}, "prada.window: must be an integer"),
        ({"prada": {"window": 1.5}}, "prada.window: must be an integer"),
        ({"prada": {"min_queries": 300}}, "min_queries must not exceed window"),
        ({"blacklight": {"action": "shout"}}, "must be one of log, alert, throttle, block"),
        ({"blacklight": {"quantization": 0}}, "blacklight.quantization: must be a number"),
        ({"blacklight": {"match": 60}}, "match must not exceed hashes"),
        ({"blacklight": []}, "detection.config.blacklight must be a table"),
        (["prada"], "must be a table of detector tables"),
    ],
)
def test_bad_config_is_one_line(config: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_detectors(config)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_batches_are_refused() -> None:
    for detector in (BlacklightDetector(), PradaDetector()):
        with pytest.raises(DataError, match="finite"):
            detector.observe("a", "m", np.array([[0.0, np.nan]]))
        with pytest.raises(DataError, match="numeric"):
            detector.observe("a", "m", np.array([], dtype=np.float32))
    prada = PradaDetector()
    prada.observe("a", "m", np.zeros((1, 4)))
    with pytest.raises(DataError, match="query size differs"):
        prada.observe("a", "m", np.zeros((1, 5)))
