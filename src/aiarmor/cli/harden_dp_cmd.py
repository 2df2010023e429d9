"""``aiarmor harden dp``: DP-SGD training with the membership audit before and after.

Audits the original PyTorch model with ``baseline.performance`` and ``privacy.membership``,
trains a fresh copy of its architecture with DP-SGD through Opacus to a target epsilon
(:class:`aiarmor.privacy.dp_hardener.DPHardener`, run by :func:`aiarmor.hardening.run_hardening`),
audits the DP model with the same checks, data, budget and seed - its reference models for
RMIA/LiRA are trained with the same DP recipe - and writes into ``--out``:

* ``model.safetensors`` - the DP model's weights, for the same ``--model`` factory;
* ``report.{json,html,sarif,junit.xml}`` - the DP model's audit, with a
  ``privacy.dp_training`` section: epsilon spent, accuracy, membership AUC and TPR at low FPR
  before and after (the DP-vs-empirical audit loop);
* ``before/report.*`` - the original model's audit, in full;
* ``comparison.json`` - the before/after table and the DP settings and accounting.

The exit code is the DP model's audit's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from aiarmor.cli.commands import cli_policy, explain_exit, prepare_out
from aiarmor.cli.harden_cmd import harden_app
from aiarmor.cli.harden_common import (
    BudgetOpt,
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
DEMO_SPEC = "aiarmor.demo:build_model"


def register(app: typer.Typer) -> None:
    """Nothing to do: importing this module adds ``dp`` to ``harden_app``."""


@harden_app.command("dp")
def dp_command(
    model: Annotated[
        str, typer.Option(metavar="SPEC", help="Model SPEC of a PyTorch model factory.")
    ],
    data: Annotated[
        Path, typer.Option(metavar="PATH", help="Held-out data (.npz) - the non-members.")
    ],
    train: Annotated[
        Path, typer.Option(metavar="PATH", help="Training data (.npz) - the members.")
    ],
    weights: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Weights of the original model.")
    ] = None,
    epsilon: Annotated[
        float, typer.Option(metavar="X", help="Target epsilon of the DP guarantee.")
    ] = 3.0,
    delta: Annotated[
        float | None, typer.Option(metavar="X", help="Delta (default 1/(10 n)).")
    ] = None,
    accountant: Annotated[str, typer.Option(metavar="ACCOUNTANT", help="prv | rdp.")] = "prv",
    max_grad_norm: Annotated[
        float, typer.Option(metavar="X", help="Per-sample clipping norm.")
    ] = 1.0,
    epochs: Annotated[int, typer.Option(metavar="N", help="Training epochs.")] = 20,
    batch_size: Annotated[int, typer.Option(metavar="N", help="Expected batch size.")] = 64,
    lr: Annotated[float, typer.Option(metavar="X", help="Adam learning rate.")] = 2e-3,
    poisson: Annotated[
        bool, typer.Option(help="Poisson sampling (the accountant's assumption).")
    ] = True,
    policy: PolicyOpt = None,
    budget: BudgetOpt = "standard",
    seed: SeedOpt = 0,
    out_dir: OutOpt = Path("aiarmor-harden"),
) -> None:
    """Train with DP-SGD (Opacus); write the weights and a before/after leakage report."""
    from aiarmor.privacy.dp import DPSettings

    settings = DPSettings(target_epsilon=epsilon, delta=delta, accountant=accountant,
                          max_grad_norm=max_grad_norm, epochs=epochs, batch_size=batch_size,
                          lr=lr, poisson_sampling=poisson, seed=seed)  # fmt: skip
    settings.validate()
    Budget.parse(budget)
    code = run_dp_command(
        out, model=model, weights=weights, data=data, train=train, settings=settings,
        policy=policy, budget=budget, out_dir=out_dir,
    )  # fmt: skip
    raise typer.Exit(code)


def run_dp_command(console: Console, *, model: str, weights: Path | None, data: Path,
                   train: Path, settings: Any, policy: Path | None, budget: str,
                   out_dir: Path) -> int:  # fmt: skip
    """Load, audit, train with DP, audit again, write everything; return the exit code."""
    from aiarmor.privacy.dp_hardener import DPHardener
    from aiarmor.targets import load_target

    pol = cli_policy(policy)
    prepare_out(out_dir)  # an unwritable --out fails before any work
    train_ds, data_ds = load_train_and_data(train, data)
    target = load_target(model, weights=weights, input_shape=data_ds.sample_shape)
    require_python_torch(target, "harden dp")
    if model == DEMO_SPEC:
        from aiarmor.demo import train_recipe
        from aiarmor.privacy import attach_recipe

        attach_recipe(target, train_recipe)
    console.print(Text(f"auditing, then DP-SGD to epsilon {settings.target_epsilon:g} ...", "dim"))
    run = harden(console, DPHardener(settings), target, train_ds, data_ds, policy=pol,
                 budget=budget, seed=settings.seed, out_dir=out_dir, table=print_comparison,
                 subject={"model_spec": model, "weights": path_str(weights)})  # fmt: skip
    console.print(Text("audit the DP model again with:", style="dim"))
    again = (f"  aiarmor audit --model {clean(model)} --weights {clean(out_dir / MODEL_FILE)} "
             f"--data {clean(data)} --train {clean(train)}")  # fmt: skip
    console.print(Text(again), soft_wrap=True)
    return explain_exit(run.after)


def print_comparison(console: Console, report: Report) -> None:
    """The before/after table: epsilon, accuracy and membership leakage."""
    from aiarmor.privacy.dp_compare import SECTION_ID

    print_section_table(console, report, SECTION_ID, "DP training", _num)


def _num(value: float | None, column: str) -> str:
    """A table cell; None stands for the infinite epsilon of the original model."""
    if value is None:
        return "-inf" if column == "change" else "inf"
    return f"{value:.4f}"
