"""Membership inference on UCI Adult: our loss, RMIA and LiRA vs ART's black-box attacks.

    /work/bench-venvs/art/bin/python bench/bench_membership.py          # ART rows included
    .venv/bin/python bench/bench_membership.py                          # ART rows n/a
    .venv/bin/python bench/bench_membership.py --dp     # DP-SGD at epsilon 1, 3, 8 vs none

(the ART venv: ``python3.11 -m venv /work/bench-venvs/art``, ``pip install torch==2.13.0
adversarial-robustness-toolbox`` and ``pip install -c constraints/dev.txt -e .`` into it.)

The target is an MLP (2 x 256 hidden units, Adam, 60 epochs) trained on 1,500 random records
of the bundled Adult table (standardized features), which overfits: a visible train/test gap.
Every attack is scored on the same 1,500 members and 1,500 non-members. Our reference models
use the same recipe on random halves of members + non-members (balanced IN/OUT masks; for one
reference model, 1,500 extra population records instead), so every reference model trains on
1,500 records like the target. ART's ``MembershipInferenceBlackBox`` is trained on the
outputs of its ``ShadowModels`` (the same recipe, disjoint shadow data of 1,500 members
each), i.e. at the same number of trained models as our 4-reference row;
``MembershipInferenceBlackBoxRuleBased`` trains nothing. Forward passes count the records
sent through the target and the reference/shadow models.

``--dp`` prints the DP-vs-empirical table instead: the same target trained with DP-SGD
(Opacus, RDP accountant, clipping norm 1, Poisson sampling, delta 1/(10 n)) at epsilon 1, 3
and 8, and without DP, each attacked with RMIA using 2 reference models trained with the
same (DP) recipe; accuracy and the spent epsilon next to the empirical leakage.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from aiarmor.data.adult import load_adult
from aiarmor.data.dataset import Dataset
from aiarmor.privacy import membership_inference, membership_metrics
from aiarmor.targets import TorchTarget

N = 1500
EPOCHS = 60
SHADOWS = 4
Row = tuple[str, int, int, Any, float]


def pools() -> dict[str, Dataset]:
    """Members, non-members, extra population and ART's shadow data, disjoint."""
    train, test = load_adult(sensitive=())
    x = np.concatenate([train.x, test.x])
    y = np.concatenate([train.y, test.y])
    x = ((x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(y))
    cuts = {"members": N, "nonmembers": N, "population": N, "shadow": 2 * N * SHADOWS}
    out, start = {}, 0
    for name, size in cuts.items():
        rows = order[start : start + size]
        out[name] = Dataset(x=x[rows], y=y[rows], name=name)
        start += size
    return out


def build(d: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 2))  # fmt: skip


def train_fn(x: np.ndarray, y: np.ndarray, seed: int) -> nn.Module:
    """The recipe: Adam, batch 128, EPOCHS epochs, no regularization (it overfits)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build(x.shape[1])
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(EPOCHS):
            for idx in torch.randperm(len(yt), generator=gen).split(128):
                opt.zero_grad()
                nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
                opt.step()
    return model.eval()


def ours(target: TorchTarget, data: dict[str, Dataset]) -> list[Row]:
    """Loss, RMIA with 1/2/4/8 reference models, LiRA offline/online with 4 and 8."""
    rows: list[Row] = []
    for k in (1, 2, 4, 8):
        pop = data["population"] if k == 1 else None
        t0 = time.perf_counter()
        r = membership_inference(target, data["members"], data["nonmembers"], train_fn=train_fn,
                                 n_references=k, population=pop, seed=k, n_boot=100)  # fmt: skip
        wall = time.perf_counter() - t0
        print(f"  {k} reference model(s): {wall:.0f}s", file=sys.stderr, flush=True)
        passes = 2 * N + r.reference_forward_passes
        if k == 1:
            rows.append(("loss threshold (ours)", 0, 2 * N, r.metrics["loss"], float("nan")))
        rows.append((f"RMIA, {k} ref (ours)", k, passes, r.metrics["rmia"], wall))
        if k >= 4:
            rows.append((f"LiRA offline, {k} ref (ours)", k, passes, r.metrics["lira_offline"],
                         wall))  # fmt: skip
            rows.append((f"LiRA online, {k} ref (ours)", k, passes, r.metrics["lira_online"],
                         wall))  # fmt: skip
    return rows


def art_rows(module: nn.Module, data: dict[str, Dataset]) -> list[Row]:
    """ART's rule-based attack and its black-box attack on ShadowModels outputs."""
    try:
        from art.attacks.inference.membership_inference import (
            MembershipInferenceBlackBox,
            MembershipInferenceBlackBoxRuleBased,
            ShadowModels,
        )
        from art.estimators.classification import PyTorchClassifier
    except ImportError:
        missing = float("nan")
        return [("ART BlackBoxRuleBased", 0, 0, None, missing),
                (f"ART BlackBox, {SHADOWS} shadow models", SHADOWS, 0, None, missing)]  # fmt: skip
    d = data["members"].x.shape[1]

    class Recipe(PyTorchClassifier):  # type: ignore[misc]
        def fit(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
            super().fit(x, y, batch_size=128, nb_epochs=EPOCHS)

    def wrap(model: nn.Module) -> Any:
        return Recipe(model=model, loss=nn.CrossEntropyLoss(), input_shape=(d,), nb_classes=2,
                      optimizer=torch.optim.Adam(model.parameters(), lr=1e-3))  # fmt: skip

    mem, non = data["members"], data["nonmembers"]
    x, y = np.concatenate([mem.x, non.x]), np.concatenate([mem.y, non.y])
    labels = np.r_[np.ones(N), np.zeros(N)]
    t0 = time.perf_counter()
    rule = MembershipInferenceBlackBoxRuleBased(wrap(module))
    scores = np.asarray(rule.infer(x, y), dtype=np.float64).ravel()
    out = [("ART BlackBoxRuleBased", 0, 2 * N, _metrics(labels, scores), time.perf_counter() - t0)]
    t0 = time.perf_counter()
    torch.manual_seed(0)
    shadows = ShadowModels(
        wrap(build(d)), num_shadow_models=SHADOWS, disjoint_datasets=True, random_state=0
    )
    (mx, my, mp), (nx, ny, np_) = shadows.generate_shadow_dataset(data["shadow"].x,
                                                                   data["shadow"].y)  # fmt: skip
    attack = MembershipInferenceBlackBox(wrap(module), input_type="prediction")
    attack.fit(mx, my, nx, ny, mp, np_)
    scores = np.asarray(attack.infer(x, y, probabilities=True), dtype=np.float64).reshape(
        len(x), -1
    )[:, -1]
    passes = 2 * N + len(data["shadow"].y)
    out.append((f"ART BlackBox, {SHADOWS} shadow models", SHADOWS, passes,
                _metrics(labels, scores), time.perf_counter() - t0))  # fmt: skip
    return out


def _metrics(labels: np.ndarray, scores: np.ndarray) -> Any:
    return membership_metrics(labels, scores, rng=np.random.default_rng(0), n_boot=100)


def _table(rows: list[Row], header: Callable[[], None]) -> None:
    header()
    print("| attack | trained models | forward passes | AUC | TPR @ 1% FPR | TPR @ 0.1% FPR "
          "| wall s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, models, passes, m, wall in rows:
        if m is None:
            print(f"| {name} | {models} | n/a | n/a | n/a | n/a | n/a |")
            continue
        secs = "-" if wall != wall else f"{wall:.1f}"
        print(f"| {name} | {models} | {passes:,} | {m.auc:.3f} | {m.tpr_at_1pct_fpr:.2%} | "
              f"{m.tpr_at_01pct_fpr:.2%} | {secs} |")  # fmt: skip


def dp_table(data: dict[str, Dataset]) -> None:
    """Accuracy and RMIA (2 refs) leakage of DP-SGD targets at several epsilons."""
    from aiarmor.privacy.dp import DPSettings, dp_recipe, train_dp

    mem, non = data["members"], data["nonmembers"]
    d = mem.x.shape[1]
    print("| epsilon (target) | epsilon spent | test accuracy | RMIA AUC | TPR @ 1% FPR "
          "| TPR @ 0.1% FPR | wall s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for eps in (1.0, 3.0, 8.0, math.inf):
        t0 = time.perf_counter()
        if math.isinf(eps):
            recipe, spent, model = train_fn, math.inf, train_fn(mem.x, mem.y, 0)
        else:
            settings = DPSettings(target_epsilon=eps, accountant="rdp", epochs=EPOCHS,
                                  batch_size=128, lr=1e-3)  # fmt: skip
            recipe = dp_recipe(lambda: build(d), settings)
            trained = train_dp(build(d), mem, settings)
            spent, model = trained.epsilon, trained.model
        target = TorchTarget(model, n_classes=2)
        acc = float((target.predict(non.x) == non.y).mean())
        r = membership_inference(target, mem, non, train_fn=recipe, n_references=2, seed=2,
                                 n_boot=100).metrics["rmia"]  # fmt: skip
        wall = time.perf_counter() - t0
        print(f"| {eps:g} | {spent:.2f} | {acc:.1%} | {r.auc:.3f} | {r.tpr_at_1pct_fpr:.2%} | "
              f"{r.tpr_at_01pct_fpr:.2%} | {wall:.0f} |", flush=True)  # fmt: skip


def main() -> None:
    torch.set_num_threads(1)  # small matrices: extra threads only contend on shared cores
    data = pools()
    if "--dp" in sys.argv[1:]:
        dp_table(data)
        return
    t0 = time.perf_counter()
    module = train_fn(data["members"].x, data["members"].y, 0)
    target = TorchTarget(module, n_classes=2, name="Adult MLP")
    fit_s = time.perf_counter() - t0
    acc = [
        float((target.predict(data[s].x) == data[s].y).mean()) for s in ("members", "nonmembers")
    ]
    rows = ours(target, data) + art_rows(module, data)

    def header() -> None:
        print(f"UCI Adult MLP: {N} members / {N} non-members, train accuracy {acc[0]:.1%}, "
              f"test accuracy {acc[1]:.1%} (gap {acc[0] - acc[1]:.1%}); one training "
              f"{fit_s:.1f}s; torch {torch.__version__}\n")  # fmt: skip

    _table(rows, header)


if __name__ == "__main__":
    main()
