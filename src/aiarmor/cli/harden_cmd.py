"""``aiarmor harden ...``: fix what the audit found, and prove it with a before/after report.

``aiarmor harden fairness`` mitigates a scikit-learn model with Fairlearn
(:class:`aiarmor.fairness.hardener.FairnessHardener`, run by
:func:`aiarmor.hardening.run_hardening`), audits the original and the mitigated model with the
same checks, data, budget and seed, and writes into ``--out``:

* ``model.skops`` - the mitigated model (an :class:`aiarmor.fairness.FairnessMitigator`);
* ``report.{json,html,sarif,junit.xml}`` - the mitigated model's audit, with a
  ``fairness.mitigation`` section holding the before/after table (fairness and accuracy);
* ``before/report.*`` - the original model's audit, in full;
* ``comparison.json`` - the before/after table alone;
* ``data-with-groups.npz`` (threshold method) - the held-out data with the group-code columns
  the mitigated model takes, so the saved model can be audited again.

Other hardenings (adversarial, dp, sanitize) add their subcommands to ``harden_app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aiarmor.cli.commands import cli_policy, explain_exit, prepare_out
from aiarmor.cli.harden_common import BudgetOpt, ChecksOpt, OutOpt, PolicyOpt, SeedOpt, harden
from aiarmor.cli.render import clean
from aiarmor.core.errors import ConfigError
from aiarmor.core.registry import Budget
from aiarmor.core.report import Report

harden_app = typer.Typer(
    name="harden",
    help="Harden a model against what the audit found, with a before/after report.",
    no_args_is_help=True,
)
out = Console()

MODEL_FILE = "model.skops"
GROUPS_DATA_FILE = "data-with-groups.npz"


@dataclass(frozen=True, slots=True)
class FairnessArgs:
    """The parsed options of ``aiarmor harden fairness``."""

    model: str
    data: Path
    train: Path
    label: str | None
    sensitive: tuple[str, ...]
    attributes: tuple[str, ...]
    method: str
    constraint: str
    eps: float
    trust_types: tuple[str, ...]
    policy: Path | None
    checks: str | None
    budget: str
    seed: int
    out_dir: Path


def register(app: typer.Typer) -> None:
    """Add the ``harden`` command group to ``app``."""
    app.add_typer(harden_app, name="harden")


@harden_app.command("fairness")
def fairness_command(
    model: Annotated[
        str, typer.Option(metavar="SPEC", help="Model SPEC of a scikit-learn classifier.")
    ],
    data: Annotated[
        Path, typer.Option(metavar="PATH", help="Held-out data to audit on (.npz, .csv, .parquet).")
    ],
    train: Annotated[
        Path, typer.Option(metavar="PATH", help="Data to fit the mitigation on (same format).")
    ],
    sensitive: Annotated[list[str], typer.Option(metavar="COL", help="Sensitive column (repeat).")],
    label: Annotated[
        str | None, typer.Option(metavar="COL", help="Label column of a table.")
    ] = None,
    attribute: Annotated[
        list[str] | None,
        typer.Option(
            metavar="COL", help="Attribute to mitigate for (repeat: jointly; default: --sensitive)."
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(metavar="METHOD", help="threshold | reductions.")
    ] = "threshold",
    constraint: Annotated[
        str,
        typer.Option(
            metavar="CONSTRAINT", help="demographic_parity | equalized_odds | equal_opportunity."
        ),
    ] = "demographic_parity",
    eps: Annotated[
        float, typer.Option(metavar="X", help="Reductions: allowed constraint violation.")
    ] = 0.01,
    trust_type: Annotated[
        list[str] | None, typer.Option(metavar="TYPE", help="skops type to trust.")
    ] = None,
    policy: PolicyOpt = None,
    checks: ChecksOpt = None,
    budget: BudgetOpt = "standard",
    seed: SeedOpt = 0,
    out_dir: OutOpt = Path("aiarmor-harden"),
) -> None:
    """Mitigate bias with Fairlearn; write the model and a before/after report."""
    args = FairnessArgs(
        model=model, data=data, train=train, label=label, sensitive=tuple(sensitive),
        attributes=tuple(attribute or sensitive), method=method, constraint=constraint,
        eps=eps, trust_types=tuple(trust_type or ()), policy=policy, checks=checks,
        budget=budget, seed=seed, out_dir=out_dir,
    )  # fmt: skip
    raise typer.Exit(run_fairness_command(out, args))


def run_fairness_command(console: Console, args: FairnessArgs) -> int:
    """Load, mitigate, audit before and after, write everything; return the exit code."""
    from aiarmor.cli.commands import parse_checks
    from aiarmor.data import load_dataset
    from aiarmor.fairness import CONSTRAINTS, METHODS
    from aiarmor.fairness.hardener import CHECKS, FairnessHardener
    from aiarmor.targets import load_target

    _choice("--method", args.method, METHODS)
    _choice("--constraint", args.constraint, CONSTRAINTS)
    Budget.parse(args.budget)
    policy = cli_policy(args.policy)
    prepare_out(args.out_dir)  # an unwritable --out fails before any work
    checks = tuple(dict.fromkeys([*CHECKS, *(parse_checks(args.checks) or [])]))
    train = load_dataset(args.train, label=args.label, sensitive=args.sensitive)
    data = load_dataset(args.data, label=args.label, sensitive=args.sensitive, reference=train)
    target = load_target(args.model, input_shape=data.sample_shape,
                         trust_skops_types=args.trust_types)  # fmt: skip
    if not hasattr(target, "estimator"):
        raise ConfigError("harden fairness needs a scikit-learn classifier (e.g. a skops file)")
    hardener = FairnessHardener(args.attributes, method=args.method, constraint=args.constraint,
                                eps=args.eps, seed=args.seed, checks=checks)  # fmt: skip
    console.print(Text(f"fitting the {args.method} mitigation ({args.constraint}) ...", "dim"))
    run = harden(console, hardener, target, train, data, policy=policy, budget=args.budget,
                 seed=args.seed, subject={"model_spec": args.model}, out_dir=args.out_dir,
                 table=print_comparison)  # fmt: skip
    _print_rerun(console, run.hardened.data_file is not None, args)
    return explain_exit(run.after)


def print_comparison(console: Console, report: Report) -> None:
    """The before/after table of the mitigated attribute's disparities and the accuracy."""
    from aiarmor.fairness.compare import SECTION_ID

    metrics = report.check(SECTION_ID).metrics
    table = Table(title="fairness mitigation: before -> after", title_justify="left")
    for col in ("metric", "before", "after", "change"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name in (k.removeprefix("before.") for k in metrics if k.startswith("before.")):
        values = [metrics[f"{stage}.{name}"] for stage in ("before", "after", "change")]
        table.add_row(Text(clean(name)), *(f"{v:+.4f}" if i == 2 else f"{v:.4f}"
                                           for i, v in enumerate(values)))  # fmt: skip
    console.print(table)
    for finding in report.check(SECTION_ID).findings:
        console.print(Text(clean(finding.detail)), soft_wrap=True)


def _print_rerun(console: Console, uses_groups: bool, args: FairnessArgs) -> None:
    """How to audit the saved mitigated model again."""
    trust = "--trust-type aiarmor.fairness.mitigation.FairnessMitigator"
    model = clean(args.out_dir / MODEL_FILE)
    if uses_groups:
        data = f"--data {clean(args.out_dir / GROUPS_DATA_FILE)}"
    else:
        label = f" --label {clean(args.label)}" if args.label else ""
        groups = "".join(f" --sensitive {clean(s)}" for s in args.sensitive)
        data = f"--data {clean(args.data)} --train {clean(args.train)}{label}{groups}"
    console.print(Text("audit the mitigated model again with:", style="dim"))
    console.print(Text(f"  aiarmor audit --model {model} {trust} {data}"), soft_wrap=True)


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
