"""``aiarmor scan PATH... [--format text|json|sarif] [--out FILE]``.

``--format`` names a :mod:`aiarmor.reporting.scan_formats` format.

Exit codes: 0 no finding at or above low (informational notes may exist), 1 at least one
finding at or above low, 2 could not scan (a path that does not exist, an unreadable file).
The words printed follow the same rule: informational notes are never called findings, and
an incomplete scan never says "no findings".
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aiarmor.core.errors import ConfigError, InputError
from aiarmor.modelfiles.results import FAIL_AT, scan_path
from aiarmor.reporting.scan_formats import ScanFormat, scan_formats
from aiarmor.scanning import ScanReport, scan

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: str) -> Text:
    """Attacker-controlled text for the terminal: control characters and bidi overrides
    shown as escapes, never markup."""
    return Text(_escape(value))


def _escape(value: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def headline(report: ScanReport) -> str:
    """One sentence that agrees with the exit code (``findings`` only at or above low)."""
    files = _count(len(report.files), "file")
    blocking, notes = len(report.blocking), len(report.notes)
    note_text = _count(notes, "informational note")
    if report.errors:
        paths = _count(len(report.errors), "path")
        found = f"{_count(blocking, 'finding')} at or above {FAIL_AT.label}, {note_text}"
        return f"scan incomplete: {paths} could not be scanned (see stderr); {found} in {files}"
    if blocking:
        extra = f" and {note_text}" if notes else ""
        return f"{_count(blocking, 'finding')} at or above {FAIL_AT.label}{extra} in {files}"
    if notes:
        return f"no findings at or above {FAIL_AT.label} ({files} scanned); {note_text}"
    return f"no findings ({files} scanned)"


def render_text(report: ScanReport) -> Table | Text:
    """A Rich table of the findings and notes under a headline ("no findings", never "safe")."""
    if not report.findings:
        return Text(headline(report))
    table = Table(title=headline(report))
    for col in ("severity", "rule", "path", "title"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        table.add_row(Text(f.severity.label), Text(f.check_id), clean(scan_path(f)), clean(f.title))
    return table


def resolve_format(name: str) -> ScanFormat:
    """The registered scan format ``name``; ConfigError (one line, exit 2) otherwise."""
    known = scan_formats()
    if name not in known:
        names = list(known)
        expected = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
        raise ConfigError(f"unknown --format {name!r} (expected {expected})")
    return known[name]


def register(app: typer.Typer) -> None:
    """Add the ``scan`` command to ``app``."""

    @app.command("scan")
    def scan_command(
        paths: Annotated[
            list[Path],
            typer.Argument(help="Files or directories to scan.", metavar="PATH", hidden=True),
        ],
        fmt: Annotated[
            str, typer.Option("--format", help=f"{' | '.join(scan_formats())}.", metavar="FORMAT")
        ] = "text",
        out: Annotated[
            Path | None, typer.Option("--out", help="Write the output here.", metavar="FILE")
        ] = None,
    ) -> None:
        """Scan model files for code execution and format abuse (never loads them).

        Each PATH is a model file or a directory (searched recursively). Exit 0: no finding at
        or above low; 1: findings; 2: a PATH could not be scanned.
        """
        chosen = resolve_format(fmt)
        missing = [p for p in paths if not os.path.lexists(p)]
        if missing:
            raise InputError(f"{_escape(repr(str(missing[0])))} does not exist")
        report = scan(paths)
        _emit(report, chosen, out)
        raise typer.Exit(report.exit_code)


def _emit(report: ScanReport, fmt: ScanFormat, out: Path | None) -> None:
    """Write the document to ``out`` or stdout; a terminal format draws the table instead."""
    if fmt.for_terminal:
        Console(file=sys.stdout, highlight=False).print(render_text(report))
        _errors(report)
        if out is not None:
            out.write_text(fmt.render(report), encoding="utf-8")
        return
    rendered = fmt.render(report)
    if out is not None:
        out.write_text(rendered, encoding="utf-8")
    else:
        sys.stdout.write(rendered)
    _errors(report)


def _errors(report: ScanReport) -> None:
    """One line on stderr per path that could not be scanned."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    for error in report.errors:
        console.print(clean(f"aiarmor: error: {error}"))
