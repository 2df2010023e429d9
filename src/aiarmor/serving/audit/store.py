"""Storage of the audit log: the two tables, the engines (SQLite WAL + FULL, PostgreSQL via
psycopg 3) and read-only queries. The chain itself lives in :mod:`aiarmor.serving.audit.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.compiler import SQLCompiler

from aiarmor.core.errors import ConfigError, InputError

__all__ = ["FIELDS", "AuditLogError", "AuditReader", "GroupCommit", "HotPath", "one_line"]

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
                self._engine.dispose()  # not close(): a subclass is not fully built yet
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
    stamp = row["time_us"]  # SQLite keeps any type: a tampered row is listed, not a crash
    out["time"] = stamp / 1_000_000 if type(stamp) is int else None
    try:  # the log writes non-finite scores as strings; a NaN token means a tampered row
        scores = json.loads(row["detector_scores"], parse_constant=_no_constant)
        json.dumps(scores, allow_nan=False)  # 1e999 parses to infinity: refused here
        out["detector_scores"] = scores
    except (ValueError, TypeError, RecursionError):  # tampered: as stored; verify() reports it
        out["detector_scores"] = row["detector_scores"]
    return out


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


class HotPath:
    """The append statements as driver SQL on one dedicated DBAPI connection.

    Appends are the gateway's per-request cost, so they skip SQLAlchemy's per-call statement
    building and pool (about 1 ms per append on a 2-core machine, several times the database
    work): SQLAlchemy compiles each statement once for the dialect. Only the audit writer
    thread (:class:`GroupCommit`) calls this, so one connection suffices; it is dropped after
    any error and reopened by the next append.
    """

    def __init__(self, engine: Engine, records: sa.Table, head: sa.Table) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        one = head.c.id == sa.bindparam("head_id")
        moved = {"last_seq": "new_seq", "last_mac": "new_mac", "mac": "new_head_mac"}
        update = head.update().where(one).values({c: sa.bindparam(b) for c, b in moved.items()})
        same = [head.c[c] == sa.bindparam(f"old_{b[4:]}") for c, b in moved.items()]
        select = sa.select(head.c.last_seq, head.c.last_mac, head.c.mac).where(one)
        self._insert = self._compile(records.insert())
        self._update = self._compile(update)
        self._update_if = self._compile(update.where(*same))
        self._select = self._compile(select.with_for_update())  # SQLite: the write lock holds
        self._conn: Any = None

    def _compile(self, stmt: sa.ClauseElement) -> tuple[str, tuple[str, ...] | None]:
        """Driver SQL and, for positional paramstyles, the parameter order."""
        compiled = stmt.compile(dialect=self._engine.dialect)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError("not a SQL statement")
        return compiled.string, tuple(compiled.positiontup or ()) if compiled.positional else None

    @staticmethod
    def _run(cur: Any, sql: tuple[str, tuple[str, ...] | None], params: Mapping[str, Any]) -> None:
        text, order = sql
        cur.execute(text, params if order is None else tuple(params[k] for k in order))

    def transaction(self, work: Callable[[HotPath], list[int]]) -> list[int]:
        """Run ``work(self)`` in one write transaction and commit it; roll back on error."""
        if self._conn is None:
            self._conn = self._engine.raw_connection()
        conn = self._conn
        try:
            if self._sqlite:
                conn.cursor().execute("BEGIN IMMEDIATE")  # the driver is kept out (connect hook)
            result = work(self)
            conn.commit()
            return result
        except BaseException:
            self._drop()
            raise

    def head(self) -> tuple[int, str, str] | None:
        """The head row (locked until commit), or None if it is missing."""
        cur = self._conn.cursor()
        self._run(cur, self._select, {"head_id": 1})
        row = cur.fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def move_head(self, new: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> bool:
        """Set the head to ``new`` (new_seq, new_mac, new_head_mac); with ``old``, only if it
        still holds exactly ``old`` (old_seq, old_mac, old_head_mac). True if it was updated."""
        cur = self._conn.cursor()
        sql = self._update if old is None else self._update_if
        self._run(cur, sql, {"head_id": 1, **new, **(old or {})})
        return bool(cur.rowcount == 1)

    def insert(self, records: list[dict[str, Any]]) -> None:
        cur = self._conn.cursor()
        text, order = self._insert
        if order is None:
            cur.executemany(text, records)
        else:
            cur.executemany(text, [tuple(r[k] for k in order) for r in records])

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        with contextlib.suppress(Exception):  # a broken connection: closing is all that is left
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._drop()


def one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]


class _Waiter:
    """One submitted row: a thread waits on ``done``, a coroutine on ``future``."""

    __slots__ = ("done", "error", "future", "loop", "row", "seq")

    def __init__(self, row: dict[str, Any], loop: asyncio.AbstractEventLoop | None) -> None:
        self.row = row
        self.seq = 0
        self.error: BaseException | None = None
        self.loop = loop
        self.future: asyncio.Future[int] | None = None if loop is None else loop.create_future()
        self.done = threading.Event() if loop is None else None

    def settle(self) -> None:
        """Wake the waiter (from the writer thread)."""
        if self.done is not None:
            self.done.set()

    def resolve(self) -> None:
        """Settle the future (on its event loop)."""
        fut = self.future
        if fut is None or fut.done():  # the awaiting request was cancelled: nothing to tell
            return
        if self.error is not None:
            fut.set_exception(self.error)
        else:
            fut.set_result(self.seq)


class GroupCommit:
    """A writer thread that commits every row waiting in one transaction (one fsync).

    :meth:`submit` (threads) and :meth:`submit_async` (coroutines; the event loop never
    blocks on the database) return only once their row's transaction has committed, or raise
    its error, so durability per caller is unchanged. Under load the rows of many requests
    share one transaction and one wake-up of each side; the writer is the only thread that
    touches the database connection, so appends never contend for it.
    """

    def __init__(
        self, commit: Callable[[list[dict[str, Any]]], list[int]], max_batch: int = 512
    ) -> None:
        self._commit = commit
        self._max = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Waiter] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, row: dict[str, Any]) -> int:
        """Write ``row``; its seq once committed."""
        waiter = self._enqueue(row, None)
        if waiter.done is not None:
            waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error
        return waiter.seq

    async def submit_async(self, row: dict[str, Any]) -> int:
        """Write ``row`` without blocking the event loop; its seq once committed."""
        waiter = self._enqueue(row, asyncio.get_running_loop())
        if waiter.future is None:
            raise RuntimeError("no future for an async waiter")
        return await waiter.future

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _enqueue(self, row: dict[str, Any], loop: asyncio.AbstractEventLoop | None) -> _Waiter:
        waiter = _Waiter(row, loop)
        with self._cond:
            if self._closed:
                raise AuditLogError("the audit log is closed")
            self._queue.append(waiter)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="aiarmor-audit-writer", daemon=True
                )
                self._thread.start()
            elif len(self._queue) == 1:
                self._cond.notify()
        return waiter

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._queue[: self._max]
                del self._queue[: len(batch)]
            self._write(batch)

    def _write(self, batch: list[_Waiter]) -> None:
        try:
            for waiter, seq in zip(batch, self._commit([w.row for w in batch]), strict=True):
                waiter.seq = seq
        except BaseException as exc:  # every caller of the failed transaction gets its error
            for waiter in batch:
                waiter.error = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[_Waiter]] = {}
        for waiter in batch:
            waiter.settle()
            if waiter.loop is not None:
                by_loop.setdefault(waiter.loop, []).append(waiter)
        for loop, waiters in by_loop.items():  # one wake-up per loop and batch
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve_all, waiters)


def _resolve_all(waiters: list[_Waiter]) -> None:
    for waiter in waiters:
        waiter.resolve()
