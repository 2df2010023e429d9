"""Terminal rendering for the CLI: Rich progress and the audit summary.

Everything shown here may come from an attacker (model names, file names, finding titles), so
it is printed with Rich markup disabled and control characters removed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from aiarmor.core.findings import CheckResult, CheckStatus, Severity
from aiarmor.core.report import Report, Verdict

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

STATUS_STYLE = {
    CheckStatus.PASSED: "green",
    CheckStatus.FAILED: "red",
    CheckStatus.SKIPPED: "yellow",
    CheckStatus.ERROR: "magenta",
}
SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def clean(text: object) -> str:
    """Text safe for a terminal: no control characters or bidi overrides."""
    return _CONTROL.sub("?", str(text))


class RichAuditProgress:
    """An :class:`aiarmor.audit.AuditProgress` that draws a Rich progress bar per check."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[note]}", markup=False),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichAuditProgress:
        self._progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def check_started(self, check_id: str, index: int, total: int) -> None:
        """Open a bar for the check."""
        label = f"[{index + 1}/{total}] {check_id}"
        self._task = self._progress.add_task(clean(label), total=None, note="")

    def check_progress(self, done: int, total: int, message: str = "") -> None:
        """Advance the running check's bar."""
        if self._task is not None:
            self._progress.update(self._task, completed=done, total=total, note=clean(message))

    def check_finished(self, result: CheckResult) -> None:
        """Close the check's bar with its status."""
        if self._task is not None:
            self._progress.update(self._task, completed=1, total=1, note=f"{result.status.value}")
            self._task = None


def print_summary(console: Console, report: Report, written: Mapping[str, Path]) -> None:
    """The end-of-run summary: one row per check, the verdict and the report paths."""
    table = Table(title="aiarmor audit", title_justify="left")
    for col in ("check", "status", "findings", "time"):
        table.add_column(col)
    for r in report.checks:
        table.add_row(
            Text(clean(r.id)),
            Text(r.status.value, style=STATUS_STYLE[r.status]),
            _findings_cell(r),
            f"{r.duration_s:.1f}s",
        )
    console.print(table)
    for r in report.checks:
        if r.reason:
            console.print(Text(f"  {r.id} {r.status.value}: {clean(r.reason)}", style="dim"))
    verdict_style = "bold green" if report.verdict is Verdict.PASS else "bold red"
    console.print(Text(f"verdict: {report.verdict.value.upper()}", style=verdict_style))
    for reason in report.verdict_reasons:
        console.print(Text(f"  - {clean(reason)}"))
    for fmt, path in written.items():
        console.print(Text(f"{fmt:>6}: {clean(path)}", style="dim"))


def _findings_cell(result: CheckResult) -> Text:
    active = [f for f in result.findings if not f.suppressed]
    if not active:
        return Text("none" if not result.findings else "suppressed", style="dim")
    worst = max(f.severity for f in active)
    return Text(f"{len(active)} (worst: {worst.label})", style=SEVERITY_STYLE[worst])
