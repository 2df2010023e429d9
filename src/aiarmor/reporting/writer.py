"""Write a report's files (report.json, .html, .sarif, .junit.xml) atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from aiarmor.core.errors import ConfigError
from aiarmor.core.report import Report
from aiarmor.reporting.html import render_html
from aiarmor.reporting.jsonreport import report_to_json
from aiarmor.reporting.junit import report_to_junit
from aiarmor.reporting.sarif import report_to_sarif

FILE_NAMES: dict[str, str] = {
    "json": "report.json",
    "html": "report.html",
    "sarif": "report.sarif",
    "junit": "report.junit.xml",
}
"""Output file name of each format."""

DEFAULT_FORMATS = ("json", "html", "sarif", "junit")


def _sarif_text(report: Report) -> str:
    """The SARIF log as indented JSON text."""
    return json.dumps(report_to_sarif(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


_RENDERERS: dict[str, Callable[[Report], str]] = {
    "json": report_to_json,
    "html": render_html,
    "sarif": _sarif_text,
    "junit": report_to_junit,
}


def write_reports(
    report: Report, out_dir: Path, formats: Iterable[str] = DEFAULT_FORMATS
) -> dict[str, Path]:
    """Render ``formats`` of ``report`` and write them into ``out_dir``; return format -> path.

    Every format is rendered before anything is written, and each file is replaced atomically
    (temporary file + ``os.replace``), so a reader never sees a half-written report. An unknown
    format raises ConfigError before any work is done.
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in _RENDERERS]
    if unknown:
        known = ", ".join(_RENDERERS)
        raise ConfigError(f"unknown report format(s) {', '.join(unknown)} (known: {known})")
    texts = {fmt: _RENDERERS[fmt](report) for fmt in wanted}
    out_dir = prepare_out_dir(out_dir)
    written = {}
    for fmt, text in texts.items():
        path = out_dir / FILE_NAMES[fmt]
        atomic_write_text(path, text)
        written[fmt] = path
    return written


def prepare_out_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` if needed and prove it is writable, before any work is done.

    An audit can take minutes; a ``--out`` that names a file or an unwritable place must fail
    first, with one line (ConfigError), not after the work with an internal error.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} exists and is not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".aiarmor-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"--out {out_dir} is not a writable directory ({reason})") from None
    return out_dir


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` via a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
