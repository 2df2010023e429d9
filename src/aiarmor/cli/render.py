"""Terminal rendering for the CLI: Rich progress and the audit summary.

Everything shown here may come from an attacker (model names, file names, finding titles), so
it is printed with Rich markup disabled and control characters removed.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
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
    """An :class:`aiarmor.audit.AuditProgress` for the terminal, or for a log when piped.

    On a terminal each check gets a Rich bar with its count, percentage and time left whenever
    the check reports countable work. Piped (CI logs, ``| tee``), a live display prints
    nothing, so it writes plain lines to stderr instead: one when a check starts and ends, one
    when its work advances by a tenth, and a heartbeat every ``heartbeat_s`` seconds while it
    runs, so a long check never looks like a hang.
    """

    def __init__(self, console: Console, *, heartbeat_s: float = 15.0) -> None:
        self._live = console.is_terminal
        self._log = LineProgress(console, heartbeat_s)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[note]}", markup=False),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichAuditProgress:
        if self._live:
            self._progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live:
            self._progress.stop()
        self._log.stop()

    def check_started(self, check_id: str, index: int, total: int) -> None:
        """Open a bar (or a log line) for the check."""
        label = clean(f"[{index + 1}/{total}] {check_id}")
        if not self._live:
            self._log.start(label)
            return
        self._task = self._progress.add_task(label, total=None, note="")

    def check_progress(self, done: int, total: int, message: str = "") -> None:
        """Advance the running check's bar."""
        if not self._live:
            self._log.advance(done, total, clean(message))
        elif self._task is not None:
            self._progress.update(self._task, completed=done, total=total, note=clean(message))

    def check_finished(self, result: CheckResult) -> None:
        """Close the check's bar with its status."""
        if not self._live:
            self._log.finish(result.status.value)
        elif self._task is not None:
            self._progress.update(self._task, completed=1, total=1, note=f"{result.status.value}")
            self._task = None


class LineProgress:
    """Plain progress lines for a log, with a heartbeat thread while a check runs."""

    def __init__(self, console: Console, heartbeat_s: float) -> None:
        self._console = console
        self._every = heartbeat_s
        self._lock = threading.Lock()
        self._label = ""
        self._state = ""
        self._shown_tenth = -1
        self._started = 0.0
        self._last_line = 0.0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, label: str) -> None:
        """A check begins: say so, and start the heartbeat."""
        with self._lock:
            self._label, self._state, self._shown_tenth = label, "", -1
            self._started = time.monotonic()
            self._line(f"{label} started")
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="aiarmor-heartbeat")
            self._thread.daemon = True
            self._thread.start()

    def advance(self, done: int, total: int, message: str) -> None:
        """Record the work done; print a line each time another tenth of it is done."""
        with self._lock:
            self._state = f"{done}/{total}" + (f" {message}" if message else "")
            tenth = int(10 * done / total) if total > 0 else -1
            if tenth > self._shown_tenth:
                self._shown_tenth = tenth
                self._line(f"{self._label} {self._state} ({100 * done / max(total, 1):.0f}%)")

    def finish(self, status: str) -> None:
        """A check ended."""
        with self._lock:
            self._line(f"{self._label} {status} in {time.monotonic() - self._started:.1f}s")
            self._label = ""

    def stop(self) -> None:
        """End the heartbeat thread."""
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _beat(self) -> None:
        while not self._wake.wait(min(self._every, 1.0)):
            with self._lock:
                quiet = time.monotonic() - self._last_line
                if self._label and quiet >= self._every:
                    elapsed = time.monotonic() - self._started
                    state = f" at {self._state}" if self._state else ""
                    self._line(f"{self._label} still running{state}, {elapsed:.0f}s elapsed")

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        self._console.print(Text(text), soft_wrap=True)


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
    verdict_style = {Verdict.PASS: "bold green", Verdict.FAIL: "bold red"}.get(
        report.verdict, "bold yellow"
    )
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
