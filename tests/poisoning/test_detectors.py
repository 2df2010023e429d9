"""Spectral signatures and activation clustering find planted poison and stay quiet on clean data.

Fast tests use synthetic representations with the structure measured on Fashion-MNIST: every
class has two natural sub-populations, and the poison is a third population relabelled into
class 0 whose runner-up predictions spread over its source classes. The real-data test trains
a small CNN on BadNets-poisoned Fashion-MNIST (bench/bench_poisoning.py has the full numbers).
"""

import numpy as np
import pytest
from torch import nn

from aiarmor.core.errors import ConfigError, DataError
from aiarmor.poisoning import ActivationClustering, SpectralSignatures, badnets
from aiarmor.targets import TorchTarget


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def representations(
    *, poison: int, seed: int = 0, n_per_class: int = 200, d: int = 32, sharp: float = 0.5
):
    """Features, labels, logits and the poison mask of a synthetic 10-class training set
    (``sharp``: how far class 3's natural sub-population lies from the rest of the class)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 4, (10, d))
    styles = rng.normal(0, 1, (10, d))  # each class's natural second sub-population
    feats, labels, runner, poisoned = [], [], [], []
    for c in range(10):
        half = rng.random(n_per_class) < 0.5
        scale = sharp if c == 3 else 0.5
        feats.append(
            means[c] + scale * half[:, None] * styles[c] + rng.normal(0, 1, (n_per_class, d))
        )
        labels += [c] * n_per_class
        runner += list(rng.choice([(c + 1) % 10, (c + 2) % 10], n_per_class))
        poisoned += [False] * n_per_class
    shift = rng.normal(0, 1, d)
    shift *= 8 / np.linalg.norm(shift)
    source = rng.integers(1, 10, poison)
    feats.append(means[0] + shift + 0.3 * means[source] / 4 + rng.normal(0, 1, (poison, d)))
    labels += [0] * poison
    runner += list(source)
    poisoned += [True] * poison
    y = np.array(labels)
    logits = rng.normal(0, 0.5, (len(y), 10))
    logits[np.arange(len(y)), y] += 8
    logits[np.arange(len(y)), np.array(runner)] += 4
    return np.concatenate(feats), y, logits, np.array(poisoned)


def f1(flagged: np.ndarray, truth: np.ndarray) -> float:
    tp = (flagged & truth).sum()
    return float(2 * tp / max(flagged.sum() + truth.sum(), 1))


@pytest.mark.parametrize("poison", [60, 200])  # 5% and 10% of the set (23% and 50% of class 0)
@pytest.mark.parametrize("detector", [SpectralSignatures(), ActivationClustering()])
def test_planted_poison_is_found(detector, poison):
    feats, y, logits, truth = representations(poison=poison)
    det = detector.fit(feats, y, logits=logits)
    assert f1(det.suspected_mask_, truth) >= 0.9
    assert det.poisoned_classes_ == (0,)
    assert det.scores_[truth].mean() > det.scores_[~truth].mean()
    assert [a.poisoned for a in det.classes_] == [True] + [False] * 9


@pytest.mark.parametrize("detector", [SpectralSignatures(), ActivationClustering()])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_data_yields_no_flags(detector, seed):
    feats, y, logits, _ = representations(poison=0, seed=seed)
    det = detector.fit(feats, y, logits=logits)
    assert len(det.suspected_) == 0
    assert det.poisoned_classes_ == ()


@pytest.mark.parametrize("detector", [SpectralSignatures(), ActivationClustering()])
def test_a_sharply_split_clean_class_is_not_poison(detector):
    """A clean class with a far sub-population splits as clearly as poison; its two sides'
    runner-up predictions are alike, so it is not flagged (the poison still is)."""
    feats, y, logits, truth = representations(poison=100, sharp=3.0)
    det = detector.fit(feats, y, logits=logits)
    assert det.classes_[3].separation > det.classes_[0].separation * 0.8
    assert det.classes_[3].entropy_gap < 0.3
    assert det.poisoned_classes_ == (0,)
    assert f1(det.suspected_mask_, truth) >= 0.9


def test_without_logits_the_smaller_side_is_poison():
    feats, y, _, truth = representations(poison=60)
    det = SpectralSignatures().fit(feats, y)
    assert f1(det.suspected_mask_, truth) >= 0.9
    assert np.isnan(det.classes_[0].entropy_gap)


def test_estimator_conventions_and_bad_input():
    det = ActivationClustering(n_components=4, seed=3)
    assert "n_components=4" in repr(det) and "seed=3" in repr(det)
    assert "max_sample_z=4.0" in repr(SpectralSignatures())
    assert not hasattr(det, "scores_")
    feats, y, logits, _ = representations(poison=0)
    with pytest.raises(DataError, match="features must be"):
        det.fit(feats[:10], y)
    with pytest.raises(DataError, match="NaN"):
        det.fit(np.full_like(feats, np.nan), y)
    with pytest.raises(DataError, match="logits"):
        det.fit(feats, y, logits=logits[:, :3])
    with pytest.raises(DataError, match="20 samples"):
        det.fit(feats[:15], y[:15])
    with pytest.raises(ConfigError, match="non-negative"):
        SpectralSignatures(min_z=-1).fit(feats, y)


@pytest.mark.slow
def test_checks_find_badnets_on_fashion_mnist_and_pass_a_clean_model(fashion):
    """Both checks through the audit: findings with the suspected rows on a backdoored CNN
    (5% BadNets), nothing on the same CNN trained on clean data."""
    from aiarmor import audit
    from aiarmor.demo import train_classifier

    train, test = fashion(3000, 300)
    poisoned = badnets(train, rate=0.05, target_class=0, seed=1)
    checks = ["poisoning.spectral", "poisoning.activation_clustering"]
    for data, truth in ((poisoned.data, poisoned.poisoned), (train, None)):
        model = train_classifier(small_cnn(), data, epochs=4, seed=0)
        target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0))
        report = audit(target, test, train=data, checks=checks, budget="quick", seed=0)
        for check_id in checks:
            result = report.check(check_id)
            if truth is None:
                assert result.findings == () and result.metrics["n_suspected"] == 0
                continue
            (finding,) = result.findings
            assert finding.evidence["class"] == 0
            rows = [r["row"] for r in finding.evidence["suspected_rows"]]
            assert truth[rows].mean() >= 0.95  # the listed rows are poison
            n = result.metrics["n_suspected"]
            assert n >= 0.7 * truth.sum() and n <= 1.2 * truth.sum()
            assert result.charts[0].id == "separation"
