"""``aiarmor audit-log verify | show | checkpoint | keygen``: the gateway's tamper-evident log.

Exit codes: ``verify`` 0 intact, 1 tampered (one line per problem, naming the first bad seq),
2 bad input (unreadable key, unknown database, no log there). SQLAlchemy is imported only when
a command runs, so the rest of the CLI works without the ``serve`` extra.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aiarmor.cli.render import clean
from aiarmor.core.errors import ConfigError

if TYPE_CHECKING:
    from aiarmor.serving.audit.log import Checkpoint

audit_app = typer.Typer(
    name="audit-log",
    help="Verify, inspect and checkpoint the gateway's tamper-evident audit log.",
    no_args_is_help=True,
)

DbOpt = Annotated[
    str,
    typer.Option(
        "--db", metavar="URL", help="sqlite:///path.db or postgresql+psycopg://user@host/db."
    ),
]
KeyFileOpt = Annotated[
    Path | None, typer.Option("--key-file", metavar="PATH", help="File holding the key.")
]
KeyEnvOpt = Annotated[
    str | None,
    typer.Option("--key-env", metavar="VAR", help="Environment variable holding the key."),
]
PrefixOpt = Annotated[
    str, typer.Option("--table-prefix", metavar="PREFIX", help="Table name prefix of the log.")
]


def register(app: typer.Typer) -> None:
    """Add the ``audit-log`` command group to ``app``."""
    app.add_typer(audit_app, name="audit-log")


def _auditlog() -> ModuleType:
    """:mod:`aiarmor.serving.audit.log`, or a one-line error without the ``serve`` extra."""
    try:
        return importlib.import_module("aiarmor.serving.audit.log")
    except ImportError as exc:
        raise ConfigError(
            f"audit-log needs the serve extra ({exc.name} is missing): pip install 'aiarmor[serve]'"
        ) from None


def _key(key_file: Path | None, key_env: str | None) -> bytes:
    load_key = _auditlog().load_key

    if (key_file is None) == (key_env is None):
        raise ConfigError("give exactly one of --key-file or --key-env")
    key: bytes = load_key(key_file if key_file is not None else f"env:{key_env}")
    return key


def _say(text: str, *, stderr: bool = False) -> None:
    console = Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=True)
    console.print(clean(text), markup=False)


@audit_app.command("verify")
def verify_command(
    db: DbOpt,
    key_file: KeyFileOpt = None,
    key_env: KeyEnvOpt = None,
    table_prefix: PrefixOpt = "aiarmor_audit",
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(metavar="PATH", help="Checkpoint file the log must extend (repeat)."),
    ] = None,
) -> None:
    """Walk the HMAC chain: exit 0 intact, 1 tampered (problems listed), 2 bad input."""
    checkpoints = [_read_checkpoint(p) for p in checkpoint or ()]
    with _auditlog().AuditLog(
        db, _key(key_file, key_env), table_prefix=table_prefix, create=False
    ) as log:
        result = log.verify(checkpoints=checkpoints)
    if result.ok:
        _say(f"audit log intact: {result.count} records, head at seq {result.head_seq}")
        raise typer.Exit(0)
    _say(f"audit log TAMPERED: {len(result.problems)} problems in {result.count} records")
    for problem in result.problems:
        _say(f"  {problem}")
    raise typer.Exit(1)


@audit_app.command("show")
def show_command(
    db: DbOpt,
    last: Annotated[
        int, typer.Option(min=1, max=10_000, metavar="N", help="How many records.")
    ] = 20,
    identity: Annotated[str | None, typer.Option(metavar="ID", help="Only this identity.")] = None,
    model: Annotated[str | None, typer.Option(metavar="NAME", help="Only this model.")] = None,
    table_prefix: PrefixOpt = "aiarmor_audit",
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """The last N records, newest first (no key needed; this does not verify them)."""
    with _auditlog().AuditReader(db, table_prefix=table_prefix) as reader:
        rows = reader.query(identity=identity, model=model, limit=last)
    if as_json:
        for row in rows:  # json.dumps escapes control characters
            sys.stdout.write(json.dumps(row, sort_keys=True) + "\n")
        return
    width = None if sys.stdout.isatty() else 200
    Console(file=sys.stdout, highlight=False, width=width).print(_table(rows))


def _when(stamp: float | None) -> str:
    """A record's time as UTC text; a time no calendar holds (a tampered row) as ``?``."""
    if stamp is None:
        return "?"
    try:
        return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    except (ValueError, OverflowError, OSError):
        return f"? ({stamp!r})"


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(rows)} audit records (newest first, not verified)")
    for col in ("seq", "time (UTC)", "identity", "model", "route", "decision", "status",
                "input sha256", "output", "detectors"):  # fmt: skip
        table.add_column(col, overflow="fold")
    for r in rows:
        when = _when(r["time"])
        scores = json.dumps(r["detector_scores"], sort_keys=True)
        cells = (r["seq"], when, r["identity"], r["model"], r["route"], r["decision"], r["status"],
                 r["input_sha256"][:16], r["output_summary"][:200], scores[:200])  # fmt: skip
        table.add_row(*(Text(clean(c)) for c in cells))  # Text: never markup
    return table


@audit_app.command("checkpoint")
def checkpoint_command(
    db: DbOpt,
    key_file: KeyFileOpt = None,
    key_env: KeyEnvOpt = None,
    table_prefix: PrefixOpt = "aiarmor_audit",
    out: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Write the checkpoint here.")
    ] = None,
) -> None:
    """Print the current head as a checkpoint to keep (and sign) outside the database."""
    with _auditlog().AuditLog(
        db, _key(key_file, key_env), table_prefix=table_prefix, create=False
    ) as log:
        line = log.checkpoint().to_json()
    if out is None:
        sys.stdout.write(line + "\n")
    else:
        out.write_text(line + "\n", encoding="utf-8")
        _say(f"wrote {out}")


def _read_checkpoint(path: Path) -> Checkpoint:
    cp: Checkpoint = _auditlog().read_checkpoint(path)
    return cp


@audit_app.command("keygen")
def keygen_command(
    out: Annotated[
        Path,
        typer.Option(metavar="PATH", help="Key file to create (mode 0600, never overwritten)."),
    ],
) -> None:
    """Create a 256-bit audit-log key (base64 text; the gateway and verify read it as is)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(out, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{out} already exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise ConfigError(f"cannot create {out}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(32)) + b"\n")
    _say(f"wrote {out} (keep it outside the audit database)")
