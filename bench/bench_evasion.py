"""Our PGD against the compute floor on the digits demo CNN (prints a table).

    .venv/bin/python bench/bench_evasion.py

The floor is k x (one forward + one input-only backward on the full batch), what any PGD
that keeps every sample for all k steps must pay. Ours drops samples as soon as they are
fooled, so it can go below the floor. Peers (torchattacks, ART) are not in this run yet:
they need their own virtualenv (torchattacks pulls torchvision and another torch build).
"""

from __future__ import annotations

import time

import torch

from aiarmor.data import load_digits_demo
from aiarmor.demo import build_model, train_classifier
from aiarmor.robustness.attacks.base import run_attack
from aiarmor.robustness.attacks.pgd import PGD
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import TorchTarget


def floor(target: TorchTarget, x: torch.Tensor, y: torch.Tensor, k: int) -> float:
    t0 = time.perf_counter()
    for _ in range(k):
        xa = x.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(target.logits(xa), y)
        torch.autograd.grad(loss, xa)
    return time.perf_counter() - t0


def main() -> None:
    train, test = load_digits_demo(seed=0)
    target = TorchTarget(train_classifier(build_model(), train, seed=0), n_classes=10,
                         bounds=(0.0, 1.0))  # fmt: skip
    x, y = torch.from_numpy(test.x), torch.from_numpy(test.y)
    print(f"{'eps':>5} {'steps':>5} {'robust acc':>10} {'ours s':>7} {'floor s':>7} {'ratio':>6}")
    for eps in (0.05, 0.1):
        for k in (10, 40):
            threat = ThreatModel(Norm.LINF, eps)
            t0 = time.perf_counter()
            res = run_attack(PGD(steps=k), target, x, y, threat, seed=0)
            ours = time.perf_counter() - t0
            base = floor(target, x, y, k)
            print(f"{eps:>5} {k:>5} {res.robust_accuracy:>10.1%} {ours:>7.3f} {base:>7.3f} "
                  f"{ours / base:>6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
