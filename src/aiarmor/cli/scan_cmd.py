"""``aiarmor scan PATH... [--format text|json|sarif] [--out FILE]``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aiarmor.core.errors import ConfigError
from aiarmor.scanning import ScanReport, scan, to_sarif

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(value: str) -> Text:
    """Attacker-controlled text for the terminal: control characters shown, never markup."""
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value))


def render_text(report: ScanReport) -> Table | Text:
    """A Rich table of the findings ("no findings" when empty, never "safe")."""
    if not report.findings:
        return Text(f"no findings ({len(report.files)} files scanned)")
    table = Table(title=f"{len(report.findings)} findings in {len(report.files)} files")
    for col in ("severity", "rule", "path", "title"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        table.add_row(Text(f.severity.label), Text(f.rule), clean(f.path), clean(f.title))
    return table


def _render(report: ScanReport, fmt: str) -> str | None:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2)
    if fmt == "sarif":
        return json.dumps(to_sarif(report), indent=2)
    return None


def register(app: typer.Typer) -> None:
    """Add the ``scan`` command to ``app``."""

    @app.command("scan")
    def scan_command(
        paths: Annotated[list[Path], typer.Argument(help="Files or directories to scan.")],
        fmt: Annotated[str, typer.Option("--format", help="text | json | sarif.")] = "text",
        out: Annotated[Path | None, typer.Option("--out", help="Write the output here.")] = None,
    ) -> None:
        """Scan model files for code execution and format abuse (never loads them)."""
        if fmt not in ("text", "json", "sarif"):
            raise ConfigError(f"unknown --format {fmt!r} (expected text, json or sarif)")
        report = scan(paths)
        _emit(report, fmt, out)
        raise typer.Exit(report.exit_code)


def _emit(report: ScanReport, fmt: str, out: Path | None) -> None:
    """Write JSON/SARIF to ``out`` or stdout; print text to the terminal."""
    rendered = _render(report, fmt)
    console = Console(file=sys.stdout, highlight=False)
    if rendered is None:
        console.print(render_text(report))
        _errors(report)
        if out is not None:
            out.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
        return
    if out is not None:
        out.write_text(rendered + "\n", encoding="utf-8")
    else:
        sys.stdout.write(rendered + "\n")
    _errors(report)


def _errors(report: ScanReport) -> None:
    """One line on stderr per path that could not be scanned."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    for error in report.errors:
        console.print(clean(f"aiarmor: error: {error}"))
