"""White-box evasion, side by side: our PGD vs torchattacks, ART and the compute floor, and our
``standard`` robustness evaluation vs torchattacks' AutoAttack (standard version).

    # peers live in their own virtualenv (never in the project's), aiarmor installed editable:
    python3.11 -m venv /work/bench-venvs/evasion
    /work/bench-venvs/evasion/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/bench-venvs/evasion/bin/pip install torchattacks==3.5.1 \
        adversarial-robustness-toolbox==1.20.1 packaging
    /work/bench-venvs/evasion/bin/pip install --no-deps -e .    # keeps torch 2.14.1, then
    /work/bench-venvs/evasion/bin/pip install pandas skops safetensors typer rich jinja2 \
        matplotlib jsonschema py7zr cryptography fairlearn captum
    apt-get install dataset-fashion-mnist          # real data: /usr/share/datasets/fashion-mnist
    /work/bench-venvs/evasion/bin/python bench/bench_evasion.py          # ~90 min on 2 cores:
    #   15 min training (cached in /tmp/aiarmor-bench), 13 min PGD, about an hour AutoAttack
    /work/bench-venvs/evasion/bin/python bench/bench_evasion.py --skip-aa  # the PGD table only
    /work/bench-venvs/evasion/bin/python bench/bench_evasion.py --quick  # about a third

Everything runs in one process on the same model, data, epsilon, step size and random start,
so the ratios are comparable within a run (absolute seconds are not comparable across runs on
these shared machines). Two small CNNs are trained on Fashion-MNIST (and cached as
safetensors): a plain one, and one adversarially trained with aiarmor's own
``aiarmor.robustness.hardening.adversarial_training`` (PGD-AT, Madry et al., ICLR 2018; eps 0.1,
3 steps of eps/2). Without the peers installed (e.g. in the project's venv) their rows print
``n/a``. ``--quick`` (200 PGD points, 300 AutoAttack points, one repeat, 20,000 training
images) takes about a third of the time.

* PGD-Linf with k = 10 and 40 steps (step 2.5 eps / k, random start): wall time and robust
  accuracy of ours, torchattacks' ``PGD`` and ART's ``ProjectedGradientDescent``, and the
  floor: k x (one forward + one input-only backward of the whole batch), what any PGD that
  keeps every sample for all k steps must pay. Ours drops samples once fooled, so it can beat
  the floor.
* Strength vs cost: ``evaluate_robustness(budget="standard")`` vs torchattacks' ``AutoAttack``
  (APGD-CE, APGD-T, FAB-T, Square 5000) on the same points: robust accuracy with its 95%
  Wilson interval, and wall time.

Threads: ``--threads 1`` by default. On these 2-core VMs a 2-thread OpenMP pool slows down
several-fold whenever another process takes a core (its threads spin at barriers), which makes
timings swing far more than the differences measured; one thread per contender is stable.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aiarmor.robustness.attacks.base import run_attack
from aiarmor.robustness.attacks.pgd import PGD
from aiarmor.robustness.evaluation import evaluate_robustness, wilson_interval
from aiarmor.robustness.hardening import adversarial_training
from aiarmor.robustness.threat import Norm, ThreatModel
from aiarmor.targets import TorchTarget

FASHION = Path("/usr/share/datasets/fashion-mnist")


def load_fashion(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST images (n, 1, 28, 28) in [0, 1] and labels, from the IDX gz files."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(FASHION / f"{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    with gzip.open(FASHION / f"{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    x = torch.from_numpy(images.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def build_cnn() -> nn.Module:
    """A small CNN for 1x28x28 inputs in [0, 1]."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


def train(x: torch.Tensor, y: torch.Tensor, *, epochs: int, adv_eps: float | None) -> nn.Module:
    """Adam + cross-entropy; with ``adv_eps``, aiarmor's PGD-AT (3 steps of eps/2)."""
    if adv_eps is not None:
        result = adversarial_training(
            build_cnn(), x, y, method="pgd", epsilon=adv_eps, steps=3, rel_stepsize=0.5,
            epochs=epochs, batch_size=128, lr=1e-3, seed=0,
            progress=lambda s: print(f"  [AT epoch {s.epoch}: train clean {s.clean_accuracy:.1%}"
                                     f", robust {s.robust_accuracy:.1%}, {s.seconds:.0f} s]",
                                     flush=True),
        )  # fmt: skip
        return result.model
    torch.manual_seed(0)
    model = build_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(128):
            model.train()
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def cached_model(
    cache: Path, name: str, adv_eps: float | None, epochs: int, n_train: int
) -> nn.Module:
    """Train once on the first ``n_train`` training images, then reload the safetensors."""
    from safetensors.torch import load_file, save_file

    path = cache / f"{name}-{n_train}-{epochs}.safetensors"
    model = build_cnn()
    if path.exists():
        model.load_state_dict(load_file(str(path)))
        return model.eval()
    x, y = load_fashion("train")
    t0 = time.perf_counter()
    model = train(x[:n_train], y[:n_train], epochs=epochs, adv_eps=adv_eps)
    print(f"[trained {name} on {min(n_train, len(y))} images in {time.perf_counter() - t0:.0f} s]")
    cache.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())


def floor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int) -> float:
    """k x (forward + input-only backward) on the whole batch; parameters frozen."""
    t0 = time.perf_counter()
    for _ in range(k):
        xa = x.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(xa), y)
        torch.autograd.grad(loss, xa)
    return time.perf_counter() - t0


def ours_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, k: int) -> float:
    target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0), batch_size=len(x))
    attack = PGD(steps=k, rel_stepsize=2.5 / k, random_start=True)
    return run_attack(attack, target, x, y, ThreatModel(Norm.LINF, eps), seed=0).robust_accuracy


def torchattacks_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     k: int) -> float:  # fmt: skip
    import torchattacks

    atk = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / k, steps=k, random_start=True)
    return accuracy(model, atk(x, y), y)


def art_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, k: int) -> float:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(model, loss=nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                            nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")  # fmt: skip
    atk = ProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2.5 * eps / k, max_iter=k,
                                   num_random_init=1, batch_size=len(x), verbose=False)  # fmt: skip
    adv = atk.generate(x.numpy(), y=y.numpy())
    return accuracy(model, torch.from_numpy(adv), y)


def timed(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    """(median seconds, the value fn returned) over ``repeats`` runs."""
    times, value = [], float("nan")
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def pgd_table(models: dict[str, tuple[nn.Module, float]], x: torch.Tensor, y: torch.Tensor,
              repeats: int) -> None:  # fmt: skip
    peers = {"torchattacks": available("torchattacks"), "art": available("art")}
    print(f"\nPGD-Linf on {len(x)} Fashion-MNIST test points (median of {repeats} runs, seconds)")
    print(f"{'model':<6} {'eps':>5} {'k':>3} | {'floor':>6} {'ours':>6} {'torchatt':>8} "
          f"{'ART':>6} | {'ours/floor':>10} {'TA/ours':>7} {'ART/ours':>8} | robust acc: "
          "ours / TA / ART")  # fmt: skip
    for name, (model, eps) in models.items():
        for k in (10, 40):
            t_floor, _ = timed(lambda: floor(model, x, y, k), repeats)  # noqa: B023
            t_ours, acc_ours = timed(lambda: ours_pgd(model, x, y, eps, k), repeats)  # noqa: B023
            t_ta, acc_ta = (timed(lambda: torchattacks_pgd(model, x, y, eps, k), repeats)  # noqa: B023
                            if peers["torchattacks"] else (float("nan"),) * 2)  # fmt: skip
            t_art, acc_art = (timed(lambda: art_pgd(model, x, y, eps, k), repeats)  # noqa: B023
                              if peers["art"] else (float("nan"),) * 2)  # fmt: skip
            print(f"{name:<6} {eps:>5g} {k:>3} | {t_floor:>6.2f} {t_ours:>6.2f} {t_ta:>8.2f} "
                  f"{t_art:>6.2f} | {t_ours / t_floor:>10.2f} {t_ta / t_ours:>7.2f} "
                  f"{t_art / t_ours:>8.2f} | {acc_ours:.1%} / {acc_ta:.1%} / {acc_art:.1%}",
                  flush=True)  # fmt: skip


def aa_table(models: dict[str, tuple[nn.Module, float]], x: torch.Tensor, y: torch.Tensor,
             skip_aa: bool) -> None:  # fmt: skip
    print(f"\nStrength vs cost on {len(x)} points: our standard evaluation vs torchattacks "
          "AutoAttack (standard)")  # fmt: skip
    print(
        f"{'model':<6} {'eps':>5} | {'ours s':>7} {'robust acc [95% CI]':>24} | "
        f"{'AA s':>7} {'robust acc [95% CI]':>24} | {'ours/AA time':>12} {'diff pp':>7}"
    )
    for name, (model, eps) in models.items():
        target = TorchTarget(model, n_classes=10, bounds=(0.0, 1.0), batch_size=len(x))
        t0 = time.perf_counter()
        ev = evaluate_robustness(target, x, y, norm="linf", epsilons=[eps], budget="standard")
        t_ours = time.perf_counter() - t0
        ours = ev.points[0]
        t_aa, robust_aa = float("nan"), -1
        if available("torchattacks") and not skip_aa:
            import torchattacks

            atk = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard",
                                          n_classes=10, seed=0)  # fmt: skip
            t0 = time.perf_counter()
            adv = atk(x, y)
            t_aa = time.perf_counter() - t0
            with torch.inference_mode():
                robust_aa = int((model(adv).argmax(1) == y).sum())
        lo, hi = ours.ci
        alo, ahi = wilson_interval(robust_aa, len(x)) if robust_aa >= 0 else (np.nan, np.nan)
        acc_aa = robust_aa / len(x) if robust_aa >= 0 else np.nan
        print(f"{name:<6} {eps:>5g} | {t_ours:>7.1f} {ours.accuracy:>8.1%} "
              f"[{lo:>6.1%}, {hi:>6.1%}] | {t_aa:>7.1f} {acc_aa:>8.1%} [{alo:>6.1%}, {ahi:>6.1%}] "
              f"| {t_ours / t_aa:>12.1%} {100 * (ours.accuracy - acc_aa):>+7.1f}  "
              f"(ours fooled by: {dict(ours.fooled_by)})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pgd", type=int, default=500, help="points for the PGD table")
    parser.add_argument("--n-aa", type=int, default=1000, help="points for the AutoAttack table")
    parser.add_argument("--n-train", type=int, default=60000, help="training images per model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/aiarmor-bench"))
    parser.add_argument("--skip-aa", action="store_true", help="skip AutoAttack (slow)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer points: 200 PGD, 300 AutoAttack, 1 repeat, 20k training "
                             "images (about a third of the full run)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.n_pgd, args.n_aa, args.repeats, args.n_train = 200, 300, 1, 20000
    torch.set_num_threads(args.threads)
    plain = cached_model(args.cache, "fashion_cnn", None, epochs=3, n_train=args.n_train)
    robust = cached_model(args.cache, "fashion_cnn_pgd_at", 0.1, epochs=3, n_train=args.n_train)
    for p in (*plain.parameters(), *robust.parameters()):
        p.requires_grad_(False)
    xt, yt = load_fashion("test")
    models = {"plain": (plain, 0.02), "AT": (robust, 0.1)}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); clean accuracy: "
        f"plain {accuracy(plain, xt, yt):.1%}, AT {accuracy(robust, xt, yt):.1%}"
    )
    pgd_table(models, xt[: args.n_pgd], yt[: args.n_pgd], args.repeats)
    aa_table(models, xt[: args.n_aa], yt[: args.n_aa], args.skip_aa)


if __name__ == "__main__":
    main()
