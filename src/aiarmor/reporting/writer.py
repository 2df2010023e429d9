"""Write a report's files (every registered :class:`~aiarmor.reporting.formats.ReportFormat`)
atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from aiarmor.core.errors import ConfigError
from aiarmor.core.report import Report
from aiarmor.reporting.formats import report_formats

DEFAULT_FORMATS = ("json", "html", "sarif", "junit")
"""What an audit writes when no ``--format`` is given."""


FILE_NAMES: dict[str, str] = {f.name: f.file_name for f in report_formats().values()}
"""Output file name of each format (from the registry)."""


def write_reports(
    report: Report, out_dir: Path, formats: Iterable[str] = DEFAULT_FORMATS
) -> dict[str, Path]:
    """Render ``formats`` of ``report`` and write them into ``out_dir``; return format -> path.

    Every format is rendered before anything is written, and each file is replaced atomically
    (temporary file + ``os.replace``), so a reader never sees a half-written report. An unknown
    format raises ConfigError before any work is done.
    """
    wanted = check_formats(formats)
    known = report_formats()
    texts = {fmt: known[fmt].render(report) for fmt in wanted}
    out_dir = prepare_out_dir(out_dir)
    written = {}
    for fmt, text in texts.items():
        path = out_dir / known[fmt].file_name
        atomic_write_text(path, text)
        written[fmt] = path
    return written


def check_formats(formats: Iterable[str]) -> list[str]:
    """``formats`` without repeats, each a registered report format (else ConfigError)."""
    wanted = list(dict.fromkeys(formats))
    known = report_formats()
    unknown = [f for f in wanted if f not in known]
    if unknown:
        names = ", ".join(known)
        raise ConfigError(f"unknown report format(s) {', '.join(unknown)} (known: {names})")
    if not wanted:
        raise ConfigError("no report format given")
    return wanted


def prepare_out_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` if needed and prove it is writable, before any work is done.

    An audit can take minutes; a ``--out`` that names a file or an unwritable place must fail
    first, with one line (ConfigError), not after the work with an internal error.
    """
    out_dir = Path(out_dir)
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"--out {out_dir} exists and is not a directory")
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
