"""STRIP on BadNets-poisoned digits: false rejection and false acceptance (prints a table).

    .venv/bin/python bench/bench_strip.py

The demo CNN is trained on scikit-learn's digits with a 3x3 BadNets patch on 5% and 10% of
the training set (target class 0). STRIP is fitted on half of the held-out set (threshold at
5% false rejection) and evaluated on the other half, clean and with the trigger stamped on.
"""

from __future__ import annotations

import time

from aiarmor.data import load_digits_demo
from aiarmor.demo import build_model, train_classifier
from aiarmor.poisoning import STRIP, badnets, badnets_trigger
from aiarmor.targets import TorchTarget


def main() -> None:
    train, test = load_digits_demo(seed=0)
    half = len(test) // 2
    clean = test.x[half:][test.y[half:] != 0]
    print(f"{'poison rate':>11} {'attack success':>14} {'FRR':>6} {'FAR':>6} {'s/input':>8}")
    for rate in (0.05, 0.10):
        data = badnets(train, rate=rate, target_class=0, seed=1).data
        target = TorchTarget(train_classifier(build_model(), data, seed=0), n_classes=10,
                             bounds=(0.0, 1.0))  # fmt: skip
        trig = badnets_trigger(clean)
        asr = float((target.predict(trig) == 0).mean())
        strip = STRIP(seed=0).fit(target, test.x[:half])
        t0 = time.perf_counter()
        frr = float(strip.predict(clean).mean())
        far = float(1.0 - strip.predict(trig).mean())
        per = (time.perf_counter() - t0) / (2 * len(clean))
        print(f"{rate:>11.0%} {asr:>14.1%} {frr:>6.1%} {far:>6.1%} {per:>8.4f}")


if __name__ == "__main__":
    main()
