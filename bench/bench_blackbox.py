"""Black-box evasion, side by side: our Square vs ART's SquareAttack, our HopSkipJump vs ART's.

    # ART lives in its own virtualenv (never in the project's), aiarmor installed editable:
    python3.11 -m venv /work/bench-venvs/art
    /work/bench-venvs/art/bin/pip install torch==2.13.0 adversarial-robustness-toolbox
    /work/bench-venvs/art/bin/pip install -c constraints/dev.txt -e .
    /work/bench-venvs/art/bin/python bench/bench_blackbox.py        # 30-40 min on 2 busy cores

Everything runs in one process on one small CNN trained here on scikit-learn's real 8x8
digits (1,297 training images, seeded), attacked on 500 held-out points (HopSkipJump: the first
``--hsj-points`` of them). Without ART importable (e.g. in the project's venv) its rows print
``n/a``.

The model is wrapped in a module that counts every row it is asked about and charges it to the
clean point it belongs to (the nearest one: Square's queries all lie in the epsilon-ball around
their point), so both tools are measured by the same counter:

* Square, Linf, epsilon 0.1 and 0.2, budget Q = 1,000 queries per point: success rate (fooled
  among the clean-correct points), median queries until the point was first fooled (over the
  fooled points), mean model queries per attacked point, wall time. ART's SquareAttack asks
  the model three times per point and iteration (a full-batch predict, the current loss and
  the candidate's loss), so it runs twice: with Q - 1 iterations (as many candidates per point
  as ours) and with Q / 3 iterations (as many model queries per point as ours).
* HopSkipJump, L2, minimum-norm (no epsilon): median L2 norm of the adversarial points found,
  success rate and mean queries per point, ours at ``max_queries=1000`` and ART's (which has no
  query budget, only iterations, and attacks one point at a time) at the number of iterations
  whose queries come closest to that (5), with the same initial and maximum evaluation counts.

Threads: ``--threads 1`` by default (a 2-thread OpenMP pool on these shared 2-core VMs slows
down several-fold whenever another process takes a core).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from aiarmor.robustness.attacks import HopSkipJump, Square, run_attack
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import TorchTarget

T = TypeVar("T")
QUERIES = 1000
"""Square's query budget per point (and HopSkipJump's); ``--queries`` changes it."""
ART_HSJ_ITERATIONS = 5
"""ART HopSkipJump iterations: about 1,000 queries per point with init_eval 100."""


def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train and test split of the 8x8 digits as (n, 1, 8, 8) in [0, 1]."""
    data = load_digits()
    x = torch.from_numpy((data.data / 16.0).astype(np.float32)).view(-1, 1, 8, 8)
    y = torch.from_numpy(data.target.astype(np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    return x[:1297], y[:1297], x[1297:], y[1297:]


def train_cnn(x: torch.Tensor, y: torch.Tensor, epochs: int = 40) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(64):
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


class Counted(nn.Module):
    """The model, charging every row it answers to the nearest clean point."""

    def __init__(self, inner: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        super().__init__()
        self.inner, self.ref, self.y = inner, x.flatten(1), y
        self.reset()

    def reset(self) -> None:
        self.count = torch.zeros(len(self.y), dtype=torch.long)
        self.first = torch.zeros(len(self.y), dtype=torch.long)  # query that first fooled it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()  # ART's HopSkipJump sends float64
        out: torch.Tensor = self.inner(x)
        with torch.no_grad():
            idx = torch.cdist(x.detach().flatten(1).float(), self.ref).argmin(dim=1)
            self.count.index_add_(0, idx, torch.ones_like(idx))
            new = (out.argmax(dim=1) != self.y[idx]) & (self.first[idx] == 0)
            self.first[idx[new]] = self.count[idx[new]]
        return out


@dataclass
class Row:
    tool: str
    setting: str
    success: float
    median_queries: float
    mean_queries: float
    seconds: float
    median_l2: float = float("nan")


def measure(counted: Counted, correct: torch.Tensor, fooled: torch.Tensor, seconds: float,
            tool: str, setting: str, l2: torch.Tensor | None = None) -> Row:  # fmt: skip
    first, nan = counted.first[fooled].float(), float("nan")
    return Row(
        tool, setting,
        success=float(fooled.sum()) / max(int(correct.sum()), 1),
        median_queries=float(first.median()) if len(first) else nan,
        mean_queries=float(counted.count[correct].float().mean()),
        seconds=seconds,
        median_l2=float(l2[fooled].median()) if l2 is not None and bool(fooled.any()) else nan,
    )  # fmt: skip


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def ours_square(counted: Counted, x: torch.Tensor, y: torch.Tensor, eps: float) -> Row:
    counted.reset()
    target = TorchTarget(counted, n_classes=10, bounds=(0.0, 1.0), batch_size=len(x))
    threat = ThreatModel(Norm.LINF, eps, (0.0, 1.0))
    res, seconds = timed(lambda: run_attack(Square(n_queries=QUERIES), target, x, y, threat))
    return measure(counted, res.clean_correct, res.success, seconds, "aiarmor Square",
                   f"eps {eps:g}, n_queries={QUERIES}")  # fmt: skip


def art_classifier(counted: Counted) -> object:
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=counted, loss=nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10,
        clip_values=(0.0, 1.0), device_type="cpu",
    )  # fmt: skip


def art_square(counted: Counted, x: torch.Tensor, y: torch.Tensor, eps: float, iters: int,
               label: str) -> Row:  # fmt: skip
    from art.attacks.evasion import SquareAttack

    counted.reset()
    attack = SquareAttack(art_classifier(counted), norm=np.inf, eps=eps, max_iter=iters,
                          p_init=0.8, nb_restarts=1, batch_size=len(x), verbose=False)  # fmt: skip
    np.random.seed(0)
    x_np = x.numpy()
    adv, seconds = timed(lambda: torch.from_numpy(attack.generate(x_np, y=y.numpy())))
    with torch.inference_mode():
        clean = counted.inner(x).argmax(1) == y
        fooled = clean & (counted.inner(adv).argmax(1) != y)
    note = "" if float((adv - x).abs().amax()) <= eps + 1e-6 else " OUT OF BALL"
    setting = f"eps {eps:g}, max_iter={iters} ({label}){note}"
    return measure(counted, clean, fooled, seconds, "ART SquareAttack", setting)


def ours_hsj(counted: Counted, x: torch.Tensor, y: torch.Tensor) -> Row:
    counted.reset()
    target = TorchTarget(counted, n_classes=10, bounds=(0.0, 1.0), batch_size=4096)
    with torch.inference_mode():
        clean = counted.inner(x).argmax(1) == y
    attack = HopSkipJump(max_queries=QUERIES)
    threat = ThreatModel(Norm.L2, 0.0, (0.0, 1.0))  # epsilon 0: minimum norm, never stops early
    gen = torch.Generator().manual_seed(0)
    adv, seconds = timed(lambda: attack.perturb(target, x[clean], y[clean], threat, gen))
    full = x.clone()
    full[clean] = adv
    return _hsj_row(counted, x, y, full, clean, seconds, "aiarmor HopSkipJump",
                    f"L2, max_queries={QUERIES}")  # fmt: skip


def art_hsj(counted: Counted, x: torch.Tensor, y: torch.Tensor) -> Row:
    from art.attacks.evasion import HopSkipJump as ArtHSJ

    counted.reset()
    with torch.inference_mode():
        clean = counted.inner(x).argmax(1) == y
    attack = ArtHSJ(art_classifier(counted), norm=2, max_iter=ART_HSJ_ITERATIONS, max_eval=10000,
                    init_eval=100, init_size=100, verbose=False)  # fmt: skip
    np.random.seed(0)
    x_np = x[clean].numpy()
    adv, seconds = timed(lambda: torch.from_numpy(attack.generate(x_np, y=y[clean].numpy())))
    full = x.clone()
    full[clean] = adv.float()
    return _hsj_row(counted, x, y, full, clean, seconds, "ART HopSkipJump",
                    f"L2, max_iter={ART_HSJ_ITERATIONS}")  # fmt: skip


def _hsj_row(counted: Counted, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor,
             clean: torch.Tensor, seconds: float, tool: str, setting: str) -> Row:  # fmt: skip
    queries = counted.count.clone()
    with torch.inference_mode():
        fooled = clean & (counted.inner(adv).argmax(1) != y)
    l2 = torch.linalg.vector_norm((adv - x).flatten(1), dim=1)
    row = measure(counted, clean, fooled, seconds, tool, setting, l2)
    # HopSkipJump's starting noise lies far from every point: it cannot be charged to one
    row.mean_queries = float(queries.sum()) / max(int(clean.sum()), 1)
    row.median_queries = float("nan")
    return row


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def na(tool: str, setting: str) -> Row:
    nan = float("nan")
    return Row(tool, setting, nan, nan, nan, nan, nan)


def fmt(v: float, spec: str) -> str:
    return "n/a" if v != v else format(v, spec)


def table(rows: list[Row], reference: dict[str, float]) -> None:
    print("| tool | setting | success rate | median queries to success | mean queries / point "
          "| median L2 | wall s | time / aiarmor |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r.seconds / reference[r.setting.split(",")[0]]
        cells = (r.tool, r.setting, fmt(r.success, ".1%"), fmt(r.median_queries, ".0f"),
                 fmt(r.mean_queries, ".0f"), fmt(r.median_l2, ".3f"), fmt(r.seconds, ".1f"),
                 fmt(ratio, ".2f") + ("x" if ratio == ratio else ""))  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    global QUERIES  # one knob, for a quick smoke run of the script
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--hsj-points", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--queries", type=int, default=QUERIES)
    args = parser.parse_args()
    QUERIES = args.queries
    torch.set_num_threads(args.threads)
    x_train, y_train, x_test, y_test = digits()
    model = train_cnn(x_train, y_train)
    x, y = x_test[: args.points], y_test[: args.points]
    counted = Counted(model, x, y).eval()
    for p in counted.parameters():
        p.requires_grad_(False)
    with torch.inference_mode():
        acc = float((model(x).argmax(1) == y).float().mean())
    has_art = available("art")
    art = "available" if has_art else "not importable"
    print(f"digits CNN, {len(x)} test points, clean accuracy {acc:.1%}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); ART {art}\n")  # fmt: skip
    rows, reference = [], {}
    for eps in (0.1, 0.2):
        ours = ours_square(counted, x, y, eps)
        reference[ours.setting.split(",")[0]] = ours.seconds
        rows.append(ours)
        for iters, label in ((QUERIES - 1, "same candidates"), (QUERIES // 3, "same queries")):
            if has_art:
                rows.append(art_square(counted, x, y, eps, iters, label))
            else:
                rows.append(na("ART SquareAttack", f"eps {eps:g}, max_iter={iters} ({label})"))
    hx, hy = x[: args.hsj_points], y[: args.hsj_points]
    hsj_counted = Counted(model, hx, hy).eval()
    ours = ours_hsj(hsj_counted, hx, hy)
    reference["L2"] = ours.seconds
    rows.append(ours)
    rows.append(
        art_hsj(hsj_counted, hx, hy)
        if has_art
        else na("ART HopSkipJump", f"L2, max_iter={ART_HSJ_ITERATIONS}")
    )
    table(rows, reference)


if __name__ == "__main__":
    main()
