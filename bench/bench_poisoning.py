"""Training-set poison detection on BadNets-poisoned Fashion-MNIST: aiarmor vs ART (prints a table).

    /work/bench-venvs/art/bin/python bench/bench_poisoning.py

(ART in its own venv: ``python3.11 -m venv /work/bench-venvs/art && /work/bench-venvs/art/bin/pip
install torch==2.13.0 adversarial-robustness-toolbox && /work/bench-venvs/art/bin/pip install -c
constraints/dev.txt -e .``; with ``.venv/bin/python`` the ART rows read n/a.) Needs Debian's
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).

Setup: the first 12,000 Fashion-MNIST training images, a 3x3 BadNets checkerboard patch
(``aiarmor.poisoning.badnets``, target class 0) on 5% and 10% of them; a small CNN (two conv
blocks, a 64-unit penultimate layer) trained once per rate with ``aiarmor.demo.train_classifier``
(5 epochs, seed 0) and cached under /tmp/aiarmor-bench-poisoning. Every detector sees the same
trained model and the same penultimate representations: ART reads the activations of its
classifier's last listed layer, so its layer list is cut before the output layer. ART's
SpectralSignatureDefense is told the true poisoning rate (``expected_pp_poison``); its
ActivationDefence runs with its defaults (2 clusters, PCA to 10 dims, "smaller" analysis).
Wall time (best of 3 round-robin runs) excludes training and includes reading the
representations (one forward pass over the training set, which ART does too); for ours the
detector fit alone is shown as well.
"""

from __future__ import annotations

import functools
import gzip
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aiarmor.data.dataset import Dataset
from aiarmor.demo import train_classifier
from aiarmor.poisoning import ActivationClustering, SpectralSignatures, badnets, badnets_trigger
from aiarmor.poisoning.representations import penultimate_and_logits
from aiarmor.targets import TorchTarget

DATA = Path("/usr/share/datasets/fashion-mnist")
CACHE = Path("/tmp/aiarmor-bench-poisoning")
N_TRAIN, N_TEST = 12_000, 2_000
REPEATS = 3


def idx_file(name: str) -> np.ndarray:
    """An IDX array (the MNIST file format) from a .gz file."""
    raw = gzip.decompress((DATA / name).read_bytes())
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(prefix: str, n: int) -> Dataset:
    x = idx_file(f"{prefix}-images-idx3-ubyte.gz")[:n].astype(np.float32)[:, None] / 255
    y = idx_file(f"{prefix}-labels-idx1-ubyte.gz")[:n].astype(np.int64)
    return Dataset(x=x, y=y, name=f"fashion-mnist {prefix}")


def build_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def trained(data: Dataset, rate: float) -> nn.Sequential:
    model = build_model()
    path = CACHE / f"cnn-badnets-{rate}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    CACHE.mkdir(parents=True, exist_ok=True)
    train_classifier(model, data, epochs=5, seed=0)
    torch.save(model.state_dict(), path)
    return model.eval()


def prf(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float((flagged & truth).sum())
    p, r = tp / max(flagged.sum(), 1), tp / max(truth.sum(), 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def ours(target: TorchTarget, data: Dataset, detector: Any) -> tuple[np.ndarray, float, float]:
    """Flagged mask, total seconds, and seconds of the detector fit alone."""
    t0 = time.perf_counter()
    feats, logits = penultimate_and_logits(target, data.x)
    t1 = time.perf_counter()
    if detector == "both":
        a = SpectralSignatures().fit(feats, data.y, logits=logits).suspected_mask_
        b = ActivationClustering().fit(feats, data.y, logits=logits).suspected_mask_
        flagged = a | b
    else:
        flagged = detector.fit(feats, data.y, logits=logits).suspected_mask_
    t2 = time.perf_counter()
    return flagged, t2 - t0, t2 - t1


def art_detectors(model: nn.Sequential, data: Dataset, rate: float) -> dict[str, Any]:
    """ART's two detectors as callables returning (flagged mask, seconds); empty without ART."""
    try:
        from art.defences.detector.poison import ActivationDefence, SpectralSignatureDefense
        from art.estimators.classification import PyTorchClassifier
    except ImportError:
        return {}
    clf = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                            nb_classes=10, clip_values=(0.0, 1.0))  # fmt: skip
    clf._layer_names = clf._layer_names[:-1]  # the penultimate layer, as for ours
    onehot = np.eye(10, dtype=np.float32)[data.y]

    def run(make: Any, **kw: Any) -> tuple[np.ndarray, float, float]:
        t0 = time.perf_counter()
        _, is_clean = make().detect_poison(**kw)
        return np.asarray(is_clean) == 0, time.perf_counter() - t0, float("nan")

    return {
        "ART ActivationDefence": lambda: run(lambda: ActivationDefence(clf, data.x, onehot),
                                             nb_clusters=2, nb_dims=10, reduce="PCA"),
        "ART SpectralSignatureDefense": lambda: run(
            lambda: SpectralSignatureDefense(clf, data.x, onehot, expected_pp_poison=rate)),
    }  # fmt: skip


def main() -> None:
    train, test = load("train", N_TRAIN), load("t10k", N_TEST)
    rows = []
    for rate in (0.05, 0.10):
        poisoned = badnets(train, rate=rate, target_class=0, seed=1)
        model = trained(poisoned.data, rate)
        target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0))
        trig = badnets_trigger(test.x[test.y != 0])
        acc = float((target.predict(test.x) == test.y).mean())
        asr = float((target.predict(trig) == 0).mean())
        data = poisoned.data
        runs: dict[str, Any] = {
            name: functools.partial(ours, target, data, det)
            for name, det in (
                ("aiarmor poisoning.spectral", SpectralSignatures()),
                ("aiarmor poisoning.activation_clustering", ActivationClustering()),
                ("aiarmor both (union; harden sanitize)", "both"),
            )
        }
        runs |= art_detectors(model, data, rate)
        names = (*list(runs)[:3], "ART ActivationDefence", "ART SpectralSignatureDefense")
        results: dict[str, list[Any]] = {name: [] for name in runs}
        for _ in range(REPEATS):  # round robin, so machine noise spreads over every detector
            for name in results:
                results[name].append(runs[name]())
        for name in names:
            if name not in runs:
                rows.append(
                    f"| {rate:.0%} | {acc:.3f} | {asr:.3f} | {name} | n/a | n/a | n/a | n/a | n/a |"
                )
                continue
            flagged = results[name][0][0]
            seconds = min(r[1] for r in results[name])
            fit = min(r[2] for r in results[name])
            p, r, f = prf(flagged, poisoned.poisoned)
            fit_cell = "-" if np.isnan(fit) else f"{fit:.2f}"
            rows.append(f"| {rate:.0%} | {acc:.3f} | {asr:.3f} | {name} | {p:.3f} | {r:.3f} | "
                        f"{f:.3f} | {seconds:.2f} | {fit_cell} |")  # fmt: skip
    print(f"| poison rate | clean acc | attack success | detector | precision | recall | F1 | "
          f"seconds (best of {REPEATS}) | of which detector fit |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    model = trained(train, 0.0)
    target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0))
    flags = {
        name: int(ours(target, train, det)[0].sum())
        for name, det in (
            ("spectral", SpectralSignatures()),
            ("activation_clustering", ActivationClustering()),
        )
    }
    print(f"\nclean model (no poison): samples flagged {flags} of {len(train)}")


if __name__ == "__main__":
    main()
