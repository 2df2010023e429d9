"""``aiarmor harden adversarial``: adversarial training with a before/after robustness report.

Audits the original PyTorch model with ``baseline.performance`` and ``robustness.evasion``,
trains a copy with PGD adversarial training or TRADES
(:class:`aiarmor.robustness.hardening.AdversarialHardener`, run by
:func:`aiarmor.hardening.run_hardening`), audits the hardened copy with the same checks, data,
budget and seed, and writes into ``--out``:

* ``model.safetensors`` - the hardened weights (safetensors, never pickle), for the same
  ``--model`` factory;
* ``report.{json,html,sarif,junit.xml}`` - the hardened model's audit, with a
  ``robustness.hardening`` section holding the before/after table (accuracy, clean accuracy
  and robust accuracy at each epsilon of the grid, which always includes the training
  epsilon);
* ``before/report.*`` - the original model's audit, in full;
* ``comparison.json`` - the before/after table, the training settings and per-epoch history.

The exit code is the hardened model's audit's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from aiarmor.cli.commands import cli_policy, explain_exit, prepare_out
from aiarmor.cli.harden_cmd import harden_app
from aiarmor.cli.harden_common import (
    BudgetOpt,
    ChecksOpt,
    OutOpt,
    PolicyOpt,
    SeedOpt,
    harden,
    load_train_and_data,
    path_str,
    print_section_table,
    require_python_torch,
)
from aiarmor.cli.render import clean
from aiarmor.core.registry import Budget
from aiarmor.core.report import Report

out = Console()

MODEL_FILE = "model.safetensors"


@dataclass(frozen=True, slots=True)
class AdversarialArgs:
    """The parsed options of ``aiarmor harden adversarial``."""

    model: str
    weights: Path | None
    train: Path
    data: Path
    bounds: str | None
    method: str
    eps: float
    norm: str
    epochs: int
    steps: int
    batch_size: int
    lr: float
    beta: float
    warmup: float
    policy: Path | None
    checks: str | None
    budget: str
    seed: int
    out_dir: Path


def register(app: typer.Typer) -> None:
    """Nothing to add: importing this module attached ``adversarial`` to ``harden_app``."""


@harden_app.command("adversarial")
def adversarial_command(
    model: Annotated[
        str, typer.Option(metavar="SPEC", help="Model SPEC: file.py:factory or pkg.mod:factory.")
    ],
    train: Annotated[
        Path, typer.Option(metavar="PATH", help="Training data (.npz, .csv, .parquet).")
    ],
    data: Annotated[
        Path, typer.Option(metavar="PATH", help="Held-out data to audit on (same format).")
    ],
    eps: Annotated[
        float, typer.Option(metavar="X", help="Training epsilon (perturbation budget).")
    ],
    weights: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Weights of the model (safe).")
    ] = None,
    bounds: Annotated[
        str | None, typer.Option(metavar="LO,HI", help="Valid input domain LO,HI.")
    ] = None,
    method: Annotated[str, typer.Option(metavar="METHOD", help="pgd | trades.")] = "pgd",
    norm: Annotated[str, typer.Option(metavar="NORM", help="linf | l2.")] = "linf",
    epochs: Annotated[int, typer.Option(metavar="N", help="Training epochs.")] = 10,
    steps: Annotated[int, typer.Option(metavar="N", help="Inner attack steps per batch.")] = 10,
    batch_size: Annotated[int, typer.Option(metavar="N", help="Mini-batch size.")] = 128,
    lr: Annotated[float, typer.Option(metavar="X", help="Adam learning rate.")] = 1e-3,
    beta: Annotated[float, typer.Option(metavar="X", help="TRADES robustness weight.")] = 6.0,
    warmup: Annotated[
        float, typer.Option(metavar="X", help="Epochs of linear epsilon ramp-up.")
    ] = 0.0,
    policy: PolicyOpt = None,
    checks: ChecksOpt = None,
    budget: BudgetOpt = "standard",
    seed: SeedOpt = 0,
    out_dir: OutOpt = Path("aiarmor-harden"),
) -> None:
    """Adversarially train a PyTorch model (PGD or TRADES); write it and a before/after report."""
    args = AdversarialArgs(
        model=model, weights=weights, train=train, data=data, bounds=bounds, method=method,
        eps=eps, norm=norm, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr,
        beta=beta, warmup=warmup, policy=policy, checks=checks, budget=budget, seed=seed,
        out_dir=out_dir,
    )  # fmt: skip
    raise typer.Exit(run_adversarial_command(out, args))


def run_adversarial_command(console: Console, args: AdversarialArgs) -> int:
    """Load, audit, train, audit again, write everything; return the exit code."""
    from aiarmor.cli.commands import parse_bounds, parse_checks
    from aiarmor.robustness.hardening import AdversarialHardener
    from aiarmor.robustness.hardening.hardener import CHECKS
    from aiarmor.targets import load_target

    Budget.parse(args.budget)
    config = _config(args, parse_bounds(args.bounds) or (0.0, 1.0))
    policy = cli_policy(args.policy)
    prepare_out(args.out_dir)  # an unwritable --out fails before any work
    checks = tuple(dict.fromkeys([*CHECKS, *(parse_checks(args.checks) or [])]))
    train, data = load_train_and_data(args.train, args.data)
    bounds = parse_bounds(args.bounds) or _data_bounds(train, data)
    target = load_target(args.model, weights=args.weights, bounds=bounds,
                         input_shape=data.sample_shape)  # fmt: skip
    require_python_torch(target, "harden adversarial")
    config = dataclasses.replace(config, bounds=bounds)
    hardener = AdversarialHardener(config, checks, on_epoch=lambda s: _print_epoch(console, s))
    subject = {"model_spec": args.model, "weights": path_str(args.weights)}
    run = harden(console, hardener, target, train, data, policy=policy, budget=args.budget,
                 seed=args.seed, subject=subject, out_dir=args.out_dir, table=print_comparison,
                 on_stage=lambda stage: _announce(console, stage, config))  # fmt: skip
    console.print(Text("audit the hardened model again with:", style="dim"))
    again = (f"  aiarmor audit --model {clean(args.model)} --weights "
             f"{clean(args.out_dir / MODEL_FILE)} --data {clean(args.data)} "
             f"--bounds {bounds[0]:g},{bounds[1]:g}")  # fmt: skip
    console.print(Text(again), soft_wrap=True)
    return explain_exit(run.after)


def print_comparison(console: Console, report: Report) -> None:
    """The before/after table: accuracy, clean accuracy and robust accuracy per epsilon."""
    from aiarmor.robustness.hardening import SECTION_ID

    print_section_table(console, report, SECTION_ID, "adversarial hardening",
                        lambda v, col: _pct(v, signed=col == "change"))  # fmt: skip


def _config(args: AdversarialArgs, bounds: tuple[float, float]) -> Any:
    """The TrainingConfig of the options (validated before anything is loaded)."""
    from aiarmor.robustness.hardening import TrainingConfig

    return TrainingConfig(
        method=args.method, epsilon=args.eps, norm=args.norm, bounds=bounds,  # type: ignore[arg-type]
        steps=args.steps, beta=args.beta, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, warmup_epochs=args.warmup, seed=args.seed,
    )  # fmt: skip


def _data_bounds(*datasets: Any) -> tuple[float, float]:
    """The range of the data, when ``--bounds`` is not given."""
    lo = min(float(d.x.min()) for d in datasets)
    hi = max(float(d.x.max()) for d in datasets)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _announce(console: Console, stage: str, config: Any) -> None:
    """The line between the two audits, as training starts."""
    if stage == "transform":
        console.print(Text(f"adversarial training ({config.method}, {config.norm} epsilon "
                           f"{config.epsilon:g}, {config.epochs} epochs) ...", "dim"))  # fmt: skip


def _print_epoch(console: Console, stats: Any) -> None:
    console.print(Text(
        f"  epoch {stats.epoch}: clean {stats.clean_accuracy:.1%} (loss "
        f"{stats.clean_loss:.3f}), robust {stats.robust_accuracy:.1%} (loss "
        f"{stats.robust_loss:.3f}) at epsilon {stats.epsilon:g}, {stats.seconds:.1f}s",
        "dim"))  # fmt: skip


def _pct(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.1%}" if signed else f"{value:.1%}"
