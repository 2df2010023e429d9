"""What the ``aiarmor harden ...`` commands share: the before/after table and model checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from aiarmor.cli.render import clean
from aiarmor.core.errors import ConfigError
from aiarmor.core.report import Report

COLUMNS = ("before", "after", "change")


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


def require_python_torch(target: Any, command: str) -> None:
    """The model must be a torch module built by Python code, so the weights fit it again."""
    import torch

    module = getattr(target, "module", None)
    if not isinstance(module, torch.nn.Module) or isinstance(module, torch.jit.ScriptModule):
        raise ConfigError(
            f"{command} needs a PyTorch model built by Python code "
            "(--model file.py:factory or package.module:factory, with --weights)"
        )


def path_str(path: Path | None) -> str | None:
    """A path for JSON, or None."""
    return None if path is None else str(path)
