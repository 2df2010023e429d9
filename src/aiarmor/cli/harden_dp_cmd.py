"""``aiarmor harden dp``: DP-SGD training with the membership audit before and after.

Audits the original PyTorch model with ``baseline.performance`` and ``privacy.membership``,
trains a fresh copy of its architecture with DP-SGD through Opacus
(:func:`aiarmor.privacy.dp.train_dp`) to a target epsilon, audits the DP model with the same
checks, data, budget and seed - its reference models for RMIA/LiRA are trained with the same
DP recipe - and writes into ``--out``:

* ``model.safetensors`` - the DP model's weights, for the same ``--model`` factory;
* ``report.{json,html,sarif,junit.xml}`` - the DP model's audit, with a
  ``privacy.dp_training`` section: epsilon spent, accuracy, membership AUC and TPR at low FPR
  before and after (the DP-vs-empirical audit loop);
* ``before/report.*`` - the original model's audit, in full;
* ``comparison.json`` - the before/after table and the DP settings and accounting.

The exit code is the DP model's audit's.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from aiarmor.cli.commands import cli_policy, explain_exit, prepare_out
from aiarmor.cli.harden_cmd import harden_app
from aiarmor.cli.harden_common import path_str, print_section_table, require_python_torch
from aiarmor.cli.render import RichAuditProgress, clean, print_summary
from aiarmor.core.errors import DataError
from aiarmor.core.policy import Policy
from aiarmor.core.registry import Budget
from aiarmor.core.report import Report

out = Console()

CHECKS = ("baseline.performance", "privacy.membership")
"""The checks both audits run."""
MODEL_FILE = "model.safetensors"
COMPARISON_FILE = "comparison.json"
DEMO_SPEC = "aiarmor.demo:build_model"


@dataclass(frozen=True, slots=True)
class DPHardening:
    """What ``harden dp`` produced."""

    training: Any
    """The :class:`aiarmor.privacy.dp.DPTrainingResult`."""
    before: Report
    """The original model's audit."""
    after: Report
    """The DP model's audit, with the ``privacy.dp_training`` section."""


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
    policy: Annotated[
        Path | None, typer.Option("--policy", metavar="PATH", help="Policy TOML file.")
    ] = None,
    budget: Annotated[
        str, typer.Option(metavar="LEVEL", help="quick | standard | thorough.")
    ] = "standard",
    seed: Annotated[
        int, typer.Option(metavar="N", help="Seed: the same seed gives the same result.")
    ] = 0,
    out_dir: Annotated[Path, typer.Option("--out", metavar="DIR", help="Output directory.")] = Path(
        "aiarmor-harden"
    ),
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
    from aiarmor.data import load_dataset
    from aiarmor.targets import load_target

    pol = cli_policy(policy)
    prepare_out(out_dir)  # an unwritable --out fails before any work
    train_ds = load_dataset(train)
    data_ds = load_dataset(data, reference=train_ds)
    if train_ds.sample_shape != data_ds.sample_shape:
        raise DataError(f"--train samples have shape {train_ds.sample_shape} but --data "
                        f"samples have {data_ds.sample_shape}")  # fmt: skip
    target = load_target(model, weights=weights, input_shape=data_ds.sample_shape)
    require_python_torch(target, "harden dp")
    if model == DEMO_SPEC:
        from aiarmor.demo import train_recipe
        from aiarmor.privacy import attach_recipe

        attach_recipe(target, train_recipe)
    console.print(Text(f"auditing, then DP-SGD to epsilon {settings.target_epsilon:g} ...", "dim"))
    with RichAuditProgress(console) as progress:
        result = harden_dp(target, train_ds, data_ds, settings=settings, policy=pol,
                           budget=budget, progress=progress,
                           subject={"model_spec": model, "weights": path_str(weights)},
                           weights_out=out_dir / MODEL_FILE)  # fmt: skip
    written = write_dp_outputs(result, out_dir)
    print_comparison(console, result.after)
    print_summary(console, result.after, written)
    console.print(Text("audit the DP model again with:", style="dim"))
    again = (f"  aiarmor audit --model {clean(model)} --weights {clean(out_dir / MODEL_FILE)} "
             f"--data {clean(data)} --train {clean(train)}")  # fmt: skip
    console.print(Text(again), soft_wrap=True)
    return explain_exit(result.after)


def harden_dp(
    target: Any,
    train: Any,
    data: Any,
    *,
    settings: Any,
    policy: Policy,
    budget: str,
    progress: Any = None,
    subject: dict[str, Any] | None = None,
    weights_out: Path | None = None,
) -> DPHardening:
    """Audit ``target``, train its architecture with DP-SGD on ``train``, audit the result."""
    from aiarmor.audit import audit
    from aiarmor.core.comparison import with_section
    from aiarmor.privacy import attach_recipe
    from aiarmor.privacy.dp import dp_recipe, train_dp, validate_module
    from aiarmor.privacy.dp_compare import dp_section
    from aiarmor.targets import TorchTarget

    template = copy.deepcopy(target.module)
    validate_module(copy.deepcopy(template).train())  # fail before the long audit
    common = {"checks": list(CHECKS), "policy": policy, "budget": budget,
              "seed": settings.seed, "progress": progress}  # fmt: skip
    before = audit(target, data, train=train, subject={**(subject or {}), "stage": "before"},
                   **common)  # fmt: skip
    training = train_dp(copy.deepcopy(template), train, settings)
    name = f"{target.name} + DP-SGD (epsilon {training.epsilon:.3g})"
    dp_target = TorchTarget(training.model, n_classes=target.n_classes, bounds=target.bounds,
                            name=name)  # fmt: skip
    attach_recipe(dp_target, dp_recipe(lambda: copy.deepcopy(template), settings))
    spec = {"model_spec": (subject or {}).get("model_spec"), "weights": path_str(weights_out)}
    after = audit(dp_target, data, train=train, subject={**spec, "stage": "after"}, **common)
    section = dp_section(before, after, epsilon=training.epsilon, delta=training.delta)
    return DPHardening(training, before, with_section(after, section, {"dp": dp_info(training)}))


def dp_info(training: Any) -> dict[str, Any]:
    """The DP settings and accounting, JSON-ready."""
    settings = dataclasses.asdict(training.settings)
    return {
        **settings,
        "epsilon_spent": training.epsilon,
        "delta": training.delta,
        "noise_multiplier": training.noise_multiplier,
        "steps": training.steps,
        "sample_rate": training.sample_rate,
        "fixed_layers": list(training.fixed_layers),
    }


def write_dp_outputs(result: DPHardening, out_dir: Path) -> dict[str, Path]:
    """Write the DP weights, both reports and the comparison."""
    from safetensors.torch import save_file

    from aiarmor.privacy.dp_compare import SECTION_ID
    from aiarmor.reporting import write_reports

    out_dir.mkdir(parents=True, exist_ok=True)
    state = result.training.model.state_dict()
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(out_dir / MODEL_FILE))
    write_reports(result.before, out_dir / "before")
    written = write_reports(result.after, out_dir)
    section = result.after.check(SECTION_ID)
    rows = section.findings[0].evidence.get("rows", []) if section.findings else []
    comparison = {"dp": result.after.subject.get("dp"), "rows": rows}
    (out_dir / COMPARISON_FILE).write_text(json.dumps(comparison, indent=2) + "\n", "utf-8")
    return {"model": out_dir / MODEL_FILE, **written, "before": out_dir / "before",
            "comparison": out_dir / COMPARISON_FILE}  # fmt: skip


def print_comparison(console: Console, report: Report) -> None:
    """The before/after table: epsilon, accuracy and membership leakage."""
    from aiarmor.privacy.dp_compare import SECTION_ID

    print_section_table(console, report, SECTION_ID, "DP training", _num)


def _num(value: float | None, column: str) -> str:
    """A table cell; None stands for the infinite epsilon of the original model."""
    if value is None:
        return "-inf" if column == "change" else "inf"
    return f"{value:.4f}"
