"""Storage of the audit log: the two tables, the engines (SQLite WAL + FULL, PostgreSQL via
psycopg 3) and read-only queries. The chain itself lives in :mod:`aiarmor.serving.auditlog`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from aiarmor.core.errors import ConfigError, InputError

__all__ = ["FIELDS", "AuditLogError", "AuditReader", "GroupCommit", "one_line"]

_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,39}")

FIELDS = ("time_us", "identity", "model", "route", "input_sha256", "output_summary",
           "decision", "status", "detector_scores")  # fmt: skip


class AuditLogError(InputError):
    """The audit log cannot be opened, or its head anchor is missing or forged."""


def _tables(prefix: str) -> tuple[sa.Table, sa.Table]:
    meta = sa.MetaData()
    records = sa.Table(
        f"{prefix}_records",
        meta,
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        *(sa.Column(f, sa.Text, nullable=False) for f in FIELDS[1:7]),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("detector_scores", sa.Text, nullable=False),
        sa.Column("prev_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Index(f"{prefix}_by_identity", "identity", "seq"),
        sa.Index(f"{prefix}_by_time", "time_us"),
    )
    head = sa.Table(
        f"{prefix}_head",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    return records, head


def _engine(url: str, *, must_exist: bool) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError("audit log url is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("a SQLite audit log must be a file: sqlite:///path.db")
        if must_exist and not Path(parsed.database).is_file():
            raise AuditLogError(f"audit log database {parsed.database} does not exist")
        engine = sa.create_engine(parsed, pool_size=8, max_overflow=8)
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql" and parsed.get_driver_name() == "psycopg":
        options = {"options": "-c synchronous_commit=on"}  # durable commits, whatever the server
        return sa.create_engine(
            parsed, pool_pre_ping=True, pool_size=8, max_overflow=8, connect_args=options
        )
    raise ConfigError("audit log url must be sqlite:///... or postgresql+psycopg://...")


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # the driver stays out; _sqlite_begin opens transactions
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout = 60000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("aiarmor_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class AuditReader:
    """Read-only access to an audit log (no key needed): :meth:`query`."""

    def __init__(
        self, url: str, *, table_prefix: str = "aiarmor_audit", must_exist: bool = True
    ) -> None:
        if not _PREFIX.fullmatch(table_prefix):
            raise ConfigError("table_prefix must be lowercase letters, digits and _")
        self._url = url
        self._engine = _engine(url, must_exist=must_exist)
        self._postgres = self._engine.dialect.name == "postgresql"
        self._records, self._head = _tables(table_prefix)
        if must_exist:
            with self._connect() as conn:
                found = sa.inspect(conn).has_table(self._records.name)
            if not found:
                self.close()
                raise AuditLogError(f"no audit log named {table_prefix!r} in that database")

    def __repr__(self) -> str:
        url = sa.engine.make_url(self._url).render_as_string(hide_password=True)
        return f"{type(self).__name__}({url!r})"

    def query(
        self,
        *,
        identity: str | None = None,
        model: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` (at most 10000) matching records, newest first."""
        rec = self._records
        stmt = sa.select(rec).order_by(rec.c.seq.desc()).limit(max(0, min(int(limit), 10_000)))
        if identity is not None:
            stmt = stmt.where(rec.c.identity == identity)
        if model is not None:
            stmt = stmt.where(rec.c.model == model)
        if since is not None:
            stmt = stmt.where(rec.c.time_us >= round(since * 1_000_000))
        with self._connect() as conn:
            return [_public(r._mapping) for r in conn.execute(stmt)]

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _connect(self) -> Connection:
        try:
            return self._engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise AuditLogError(f"cannot open the audit log: {one_line(exc)}") from None


def _public(row: sa.RowMapping) -> dict[str, Any]:
    out = {k: row[k] for k in ("seq", *FIELDS[1:8], "prev_mac", "mac")}
    out["time"] = row["time_us"] / 1_000_000
    try:
        out["detector_scores"] = json.loads(row["detector_scores"])
    except ValueError:  # a tampered row: show it as stored, verify() reports it
        out["detector_scores"] = row["detector_scores"]
    return out


def one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]


class _Pending:
    __slots__ = ("error", "lead", "row", "seq", "wake")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.seq = 0
        self.error: BaseException | None = None
        self.lead = False
        self.wake = threading.Event()


class GroupCommit:
    """Leader/follower group commit: rows submitted while a transaction is running are written
    together by the next one. Each :meth:`submit` returns only after its own transaction has
    committed (or raises its error), so durability per caller is unchanged; the leader hands
    over after its own batch, so no caller waits for more than two transactions."""

    def __init__(
        self, commit: Callable[[list[dict[str, Any]]], list[int]], max_batch: int = 512
    ) -> None:
        self._commit = commit
        self._max = max_batch
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._busy = False

    def submit(self, row: dict[str, Any]) -> int:
        """Write ``row``; its seq once committed."""
        mine = _Pending(row)
        with self._lock:
            self._pending.append(mine)
            if not self._busy:
                self._busy = mine.lead = True
        if not mine.lead:
            mine.wake.wait()
        if mine.lead:  # first in line, or handed the lead by the previous leader
            self._lead()
        if mine.error is not None:
            raise mine.error
        return mine.seq

    def _lead(self) -> None:
        with self._lock:
            batch = self._pending[: self._max]
            del self._pending[: len(batch)]
        try:
            for item, seq in zip(batch, self._commit([b.row for b in batch]), strict=True):
                item.seq = seq
        except BaseException as exc:  # every caller of the failed transaction gets its error
            for item in batch:
                item.error = exc
        with self._lock:
            heir = self._pending[0] if self._pending else None
            if heir is None:
                self._busy = False
            else:
                heir.lead = True
        for item in batch:
            item.lead = False
            item.wake.set()
        if heir is not None:
            heir.wake.set()
