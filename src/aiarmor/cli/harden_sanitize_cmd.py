"""``aiarmor harden sanitize``: remove (or relabel) poisoned training data and retrain.

Reads the PyTorch model's penultimate representations of ``--train``, flags suspected poison
with spectral signatures and activation clustering (``--method``), removes the flagged rows
(or, with ``--relabel``, gives each its runner-up class), and retrains a fresh copy of the
architecture with the default recipe: :func:`aiarmor.privacy.recipes.retrain_recipe`
(parameters reset, Adam at ``--lr``, cross-entropy, batches of 64, ``--epochs`` epochs,
``--seed``). Library users give their own recipe to
:class:`aiarmor.poisoning.sanitize_hardener.SanitizeHardener`. Both models are
audited with the same checks on ``--data``; with ``--trigger badnets[:SIZE[:VALUE]]`` and
``--target-class`` the attack success rate is measured too. Writes into ``--out``:

* ``model.safetensors`` - the retrained weights, for the same ``--model`` factory;
* ``report.{json,html,sarif,junit.xml}`` - the retrained model's audit, with a
  ``poisoning.sanitize`` section (accuracy, attack success, flagged samples before/after);
* ``before/report.*`` - the original model's audit, in full;
* ``comparison.json`` - the before/after table and the changed rows.

The exit code is the retrained model's audit's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
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
from aiarmor.core.errors import ConfigError
from aiarmor.core.registry import Budget
from aiarmor.core.report import Report

out = Console()


def register(app: typer.Typer) -> None:
    """Nothing to do: importing this module adds ``sanitize`` to ``harden_app``."""


@harden_app.command("sanitize")
def sanitize_command(
    model: Annotated[
        str, typer.Option(metavar="SPEC", help="Model SPEC of a PyTorch model factory.")
    ],
    train: Annotated[Path, typer.Option(metavar="PATH", help="Training data (.npz) to sanitize.")],
    data: Annotated[
        Path, typer.Option(metavar="PATH", help="Clean held-out data (.npz) to score on.")
    ],
    weights: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Weights of the trained model.")
    ] = None,
    method: Annotated[
        str, typer.Option(metavar="METHOD", help="spectral | activation_clustering | both (union).")
    ] = "both",
    relabel: Annotated[
        bool, typer.Option("--relabel", help="Relabel flagged rows (runner-up class).")
    ] = False,
    trigger: Annotated[
        str | None, typer.Option(metavar="SPEC", help="Known trigger, badnets[:SIZE[:VALUE]].")
    ] = None,
    target_class: Annotated[
        int | None, typer.Option(metavar="CLASS", help="The trigger's target class.")
    ] = None,
    epochs: Annotated[int, typer.Option(metavar="N", help="Retraining epochs.")] = 20,
    lr: Annotated[float, typer.Option(metavar="X", help="Adam learning rate.")] = 2e-3,
    policy: PolicyOpt = None,
    budget: BudgetOpt = "standard",
    seed: SeedOpt = 0,
    out_dir: OutOpt = Path("aiarmor-harden"),
) -> None:
    """Remove or relabel suspected poison, retrain, and write a before/after report."""
    from aiarmor.poisoning.sanitize import METHODS

    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if epochs < 1 or lr <= 0:
        raise ConfigError("--epochs must be at least 1 and --lr positive")
    Budget.parse(budget)
    stamp = parse_trigger(trigger, target_class)
    code = run_sanitize_command(
        out, model=model, weights=weights, train=train, data=data, method=method,
        relabel=relabel, trigger=stamp, target_class=target_class, epochs=epochs, lr=lr,
        policy=policy, budget=budget, seed=seed, out_dir=out_dir,
    )  # fmt: skip
    raise typer.Exit(code)


def parse_trigger(spec: str | None, target_class: int | None) -> Any:
    """``badnets[:SIZE[:VALUE]]`` as a function stamping the patch (None without a spec)."""
    from aiarmor.poisoning import badnets_trigger

    if (spec is None) != (target_class is None):
        raise ConfigError("--trigger and --target-class go together")
    if spec is None:
        return None
    name, *args = spec.split(":")
    if name != "badnets" or len(args) > 2:
        raise ConfigError(f"--trigger must be badnets[:SIZE[:VALUE]], got {spec!r}")
    try:
        size = int(args[0]) if args else 3
        value = float(args[1]) if len(args) > 1 else 1.0
    except ValueError:
        raise ConfigError(f"--trigger must be badnets[:SIZE[:VALUE]], got {spec!r}") from None
    if size < 1:
        raise ConfigError("--trigger patch size must be at least 1")

    def stamp(x: np.ndarray) -> np.ndarray:
        return badnets_trigger(x, size=size, value=value)

    return stamp


def run_sanitize_command(console: Console, *, model: str, weights: Path | None, train: Path,
                         data: Path, method: str, relabel: bool, trigger: Any,
                         target_class: int | None, epochs: int, lr: float, policy: Path | None,
                         budget: str, seed: int, out_dir: Path) -> int:  # fmt: skip
    """Load, sanitize, retrain, audit both, write everything; return the exit code."""
    from aiarmor.poisoning.sanitize_hardener import SanitizeHardener
    from aiarmor.privacy.recipes import retrain_recipe
    from aiarmor.targets import load_target

    pol = cli_policy(policy)
    prepare_out(out_dir)  # an unwritable --out fails before any work
    train_ds, data_ds = load_train_and_data(train, data)
    target = load_target(model, weights=weights, input_shape=data_ds.sample_shape)
    if target_class is not None and not 0 <= target_class < target.n_classes:
        raise ConfigError(f"--target-class must be in 0..{target.n_classes - 1}")
    module = require_python_torch(target, "harden sanitize")
    hardener = SanitizeHardener(retrain_recipe(module, epochs=epochs, lr=lr), method=method,
                                relabel=relabel, trigger=trigger, target_class=target_class,
                                seed=seed)  # fmt: skip
    console.print(Text(f"detecting poison ({method}), retraining for {epochs} epochs ...", "dim"))
    run = harden(console, hardener, target, train_ds, data_ds, policy=pol, budget=budget,
                 seed=seed, out_dir=out_dir, table=print_comparison,
                 subject={"model_spec": model, "weights": path_str(weights)})  # fmt: skip
    return explain_exit(run.after)


def print_comparison(console: Console, report: Report) -> None:
    """The before/after table: accuracy, attack success and flagged samples."""
    from aiarmor.poisoning.sanitize_compare import SECTION_ID

    print_section_table(console, report, SECTION_ID, "sanitize and retrain",
                        lambda v, _col: "n/a" if v is None else f"{v:.4f}")  # fmt: skip
