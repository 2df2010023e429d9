"""What the ``aiarmor harden ...`` commands share: loading, the run, the before/after table.

Each command parses its options, builds its area's hardener and hands it to :func:`harden`,
which runs :func:`aiarmor.hardening.run_hardening` under a progress display and writes the
outputs with :func:`aiarmor.hardening.write_hardening`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aiarmor.cli.render import RichAuditProgress, clean, print_summary
from aiarmor.core.errors import ConfigError, DataError
from aiarmor.core.hardener import Hardener
from aiarmor.core.policy import Policy
from aiarmor.core.report import Report

if TYPE_CHECKING:
    from aiarmor.hardening import HardeningRun

COLUMNS = ("before", "after", "change")


# The options every ``aiarmor harden ...`` command shares, written once.
PolicyOpt = Annotated[
    Path | None, typer.Option("--policy", metavar="PATH", help="Policy TOML file.")
]
ChecksOpt = Annotated[
    str | None, typer.Option(metavar="IDS", help="Extra comma-separated check ids.")
]
BudgetOpt = Annotated[str, typer.Option(metavar="LEVEL", help="quick | standard | thorough.")]
SeedOpt = Annotated[
    int, typer.Option(metavar="N", help="Seed: the same seed gives the same result.")
]
OutOpt = Annotated[Path, typer.Option("--out", metavar="DIR", help="Output directory.")]


def load_train_and_data(train: Path, data: Path, **options: Any) -> tuple[Any, Any]:
    """``--train`` and ``--data`` (encoded like ``--train``), with samples of one shape."""
    from aiarmor.data import load_dataset

    train_ds = load_dataset(train, **options)
    data_ds = load_dataset(data, reference=train_ds, **options)
    if train_ds.sample_shape != data_ds.sample_shape:
        raise DataError(f"--train samples have shape {train_ds.sample_shape} but --data "
                        f"samples have {data_ds.sample_shape}")  # fmt: skip
    return train_ds, data_ds


def harden(
    console: Console, hardener: Hardener, target: Any, train: Any, data: Any, *,
    policy: Policy, budget: str, seed: int, subject: dict[str, Any], out_dir: Path,
    table: Callable[[Console, Report], None], on_stage: Callable[[str], None] | None = None,
) -> HardeningRun:  # fmt: skip
    """Run the hardening with progress, write its outputs, print ``table`` and the summary."""
    from aiarmor.hardening import run_hardening, write_hardening

    with RichAuditProgress(console) as progress:
        run = run_hardening(hardener, target, train, data, policy=policy, budget=budget,
                            seed=seed, progress=progress, subject=subject, out_dir=out_dir,
                            on_stage=on_stage)  # fmt: skip
    written = write_hardening(run, out_dir)
    table(console, run.after)
    print_summary(console, run.after, written)
    return run


def print_section_table(
    console: Console, report: Report, section_id: str, title: str,
    cell: Callable[[float | None, str], str],
) -> None:  # fmt: skip
    """Print a before/after section's rows (its first finding's evidence) and its findings.

    ``cell(value, column)`` formats one value of the ``before``, ``after`` or ``change`` column.
    """
    section = report.check(section_id)
    table = Table(title=f"{title}: before -> after", title_justify="left")
    for col in ("metric", *COLUMNS):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for row in section.findings[0].evidence.get("rows", []) if section.findings else []:
        table.add_row(Text(clean(row["metric"])), *(cell(row[k], k) for k in COLUMNS))
    console.print(table)
    for finding in section.findings:
        console.print(Text(clean(finding.detail)), soft_wrap=True)


def require_python_torch(target: Any, command: str) -> Any:
    """The model must be a torch module built by Python code, so the weights fit it again;
    that module."""
    import torch

    module = getattr(target, "module", None)
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule):
        raise ConfigError(
            f"{command} needs a PyTorch model built by Python code "
            "(--model file.py:factory or package.module:factory, with --weights)"
        )
    return module


def path_str(path: Path | None) -> str | None:
    """A path for JSON, or None."""
    return None if path is None else str(path)
