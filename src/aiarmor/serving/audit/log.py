"""Tamper-evident audit log of the gateway: an HMAC-SHA256 chain in SQLite or PostgreSQL.

Record ``seq`` stores the entry, ``prev_mac`` (the MAC of record ``seq - 1``; 64 zeros for the
first) and ``mac = HMAC(key, enc(seq, prev_mac, fields))``, where ``enc`` length-prefixes every
field (integers as decimal text, times as integer microseconds, detector scores as canonical
JSON text), so no two different records share an encoding. A one-row *head anchor* (last seq,
last MAC, and an HMAC over both) is updated in the same transaction as every append, so
:meth:`AuditLog.verify` detects an edited field, a deleted, reordered, replayed or forged
record, a truncated tail and a different key, and it accounts for every stored row the
readers can list, including rows outside the chain (seq 0 or below, or a seq or field of the
wrong type, which SQLite allows).

Appends are serialized across threads, processes and hosts: SQLite takes the write lock up
front (``BEGIN IMMEDIATE``; WAL, ``synchronous=FULL``), PostgreSQL locks the head row
(``SELECT ... FOR UPDATE``, ``synchronous_commit=on``). An append is committed, hence durable,
when it returns.

Limits, stated plainly: whoever holds the key can rewrite the whole log consistently, so the
key must live outside the database (a file or environment variable of the gateway only), and
anyone who can write the database can roll it back to an earlier consistent state (old records
*and* old head). Against both, export :meth:`AuditLog.checkpoint` regularly to a place the
database writers cannot change (and sign it: ``aiarmor sign``); ``verify(checkpoints=...)``
then proves the log still extends every checkpoint.

The parts: :mod:`.chain` (keys, MACs, checkpoints), :mod:`.entry` (what a record holds),
:mod:`.verify` (the walk of the chain) and :mod:`.store` (tables, engines, group commit);
this module appends and verifies, and re-exports their public names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from aiarmor.serving.audit.chain import (
    GENESIS_MAC,
    MIN_KEY_BYTES,
    Checkpoint,
    _check_key,
    _checkpoint_tag,
    _head_mac,
    _record_mac,
    _same,
    load_key,
    read_checkpoint,
)
from aiarmor.serving.audit.entry import DECISIONS, AuditEntry, _row
from aiarmor.serving.audit.store import (
    AuditLogError,
    AuditReader,
    GroupCommit,
    HotPath,
    one_line,
)
from aiarmor.serving.audit.verify import MAX_PROBLEMS, AuditVerification, _Head, _Walk

__all__ = [
    "DECISIONS",
    "MIN_KEY_BYTES",
    "AuditEntry",
    "AuditLog",
    "AuditLogError",
    "AuditReader",
    "AuditVerification",
    "Checkpoint",
    "load_key",
    "read_checkpoint",
]

_OLD = ("old_seq", "old_mac", "old_head_mac")
_NEW = ("new_seq", "new_mac", "new_head_mac")


class AuditLog(AuditReader):
    """Append-only, HMAC-chained audit log; see the module docstring for what it detects.

    ``url`` is ``sqlite:///path.db`` or ``postgresql+psycopg://...``; ``key`` at least 32
    bytes (see :func:`load_key`). The tables are created unless ``create=False`` (then a
    missing log is an error: what ``aiarmor audit-log verify`` wants).
    """

    def __init__(
        self, url: str, key: bytes, *, table_prefix: str = "aiarmor_audit", create: bool = True
    ) -> None:
        self._key = _check_key(key)
        super().__init__(url, table_prefix=table_prefix, must_exist=not create)
        self._group = GroupCommit(self._commit)
        self._writer = self._engine.execution_options(aiarmor_write=True)
        self._hot = HotPath(self._engine, self._records, self._head)
        self._last_head: tuple[int, str, str] | None = None
        """(seq, mac, head mac) as this process last committed them."""
        if create:
            self._create()

    def _create(self) -> None:
        """Create the tables and the genesis head (idempotent, safe under races)."""
        for attempt in range(3):
            try:
                self._records.metadata.create_all(self._engine, checkfirst=True)
                break
            except sa.exc.SQLAlchemyError as exc:  # another process created them first
                if attempt == 2:
                    raise AuditLogError(f"cannot open the audit log: {one_line(exc)}") from None
                time.sleep(0.05)
        insert = (postgresql.insert if self._postgres else sqlite.insert)(self._head)
        values = {"id": 1, "last_seq": 0, "last_mac": GENESIS_MAC}
        values["mac"] = _head_mac(self._key, 0, GENESIS_MAC)
        with self._writer.begin() as conn:
            conn.execute(insert.values(values).on_conflict_do_nothing(index_elements=["id"]))

    def append(self, entry: AuditEntry) -> int:
        """Append ``entry``; committed (durable) when this returns. Returns its seq.

        Appends of this process go through one writer thread that commits all the entries
        waiting in one transaction (one fsync), each caller returning once it is committed.
        """
        return self._group.submit(_row(entry))

    async def append_async(self, entry: AuditEntry) -> int:
        """:meth:`append` for coroutines: committed when it returns; the loop never blocks."""
        return await self._group.submit_async(_row(entry))

    def _commit(self, rows: list[dict[str, Any]]) -> list[int]:
        """Chain ``rows`` after the head in one transaction; their seqs."""
        try:
            return self._hot.transaction(lambda tx: self._chain(tx, rows))
        except AuditLogError:
            self._last_head = None
            raise
        except Exception as exc:  # the database failed: nothing of this batch was committed
            self._last_head = None
            raise AuditLogError(f"cannot append to the audit log: {one_line(exc)}") from None

    def _chain(self, tx: HotPath, rows: list[dict[str, Any]]) -> list[int]:
        """Inside the transaction: link ``rows`` to the head and move it.

        The head as this process last wrote it is tried first, in one conditional UPDATE that
        also takes the row lock; if any column of the head row differs (another writer
        appended, or the row was edited) the head is read under lock and its MAC checked.
        """
        cached = self._last_head
        if cached is not None:
            records, new = self._link(cached, rows)
            moved = tx.move_head(new, dict(zip(_OLD, cached, strict=True)))
        if cached is None or not moved:
            seq, mac, head_mac = tx.head() or self._missing_head()
            if not _same(head_mac, _head_mac(self._key, seq, mac)):
                raise AuditLogError("audit log head anchor fails its MAC (wrong key or tampered)")
            records, new = self._link((seq, mac, head_mac), rows)
            tx.move_head(new)
        tx.insert(records)
        self._last_head = (new["new_seq"], new["new_mac"], new["new_head_mac"])
        return [r["seq"] for r in records]

    def _link(
        self, head: tuple[int, str, str], rows: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        seq, mac = head[0], head[1]
        records = []
        for row in rows:
            prev, seq = mac, seq + 1
            mac = _record_mac(self._key, seq, prev, row)
            records.append({**row, "seq": seq, "prev_mac": prev, "mac": mac})
        return records, dict(zip(_NEW, (seq, mac, _head_mac(self._key, seq, mac)), strict=True))

    @staticmethod
    def _missing_head() -> tuple[int, str, str]:
        raise AuditLogError("audit log head anchor is missing; run aiarmor audit-log verify")

    def _locked_head(self, conn: Connection) -> tuple[int, str]:
        """The head row, locked for this transaction; refuses a missing or forged anchor."""
        stmt = sa.select(self._head).where(self._head.c.id == 1)
        head = conn.execute(stmt.with_for_update() if self._postgres else stmt).one_or_none()
        if head is None:
            raise AuditLogError("audit log head anchor is missing; run aiarmor audit-log verify")
        if not _same(head.mac, _head_mac(self._key, head.last_seq, head.last_mac)):
            raise AuditLogError("audit log head anchor fails its MAC (wrong key or tampered)")
        return int(head.last_seq), str(head.last_mac)

    def close(self) -> None:
        """Commit what is queued, stop the writer and release the connections."""
        self._group.close()
        self._hot.close()
        super().close()

    def checkpoint(self) -> Checkpoint:
        """The current head as a :class:`Checkpoint` to store outside the database."""
        with self._connect() as conn:
            seq, mac = self._locked_head(conn)
        cp = Checkpoint(seq, mac, round(time.time(), 6), "")
        return Checkpoint(cp.seq, cp.mac, cp.time, _checkpoint_tag(self._key, cp))

    def is_empty(self) -> bool:
        """No record was ever appended (the head is at seq 0 and no row is stored)."""
        head = self._head_state()
        return head.present and head.seq == 0 and head.top == 0 and not self._strays()

    def extends(self, checkpoints: Sequence[Checkpoint]) -> list[str]:
        """What keeps the log from extending ``checkpoints`` (a cheap check for start-up:
        the record at each checkpoint's seq still has its MAC; ``verify`` walks it all)."""
        problems = []
        rec = self._records
        for cp in checkpoints:
            if not _same(cp.tag, _checkpoint_tag(self._key, cp)):
                problems.append(f"checkpoint of seq {cp.seq} fails its tag (other log or key)")
                continue
            with self._connect() as conn:
                mac = conn.execute(sa.select(rec.c.mac).where(rec.c.seq == cp.seq)).scalar()
            if not _same(mac, cp.mac):
                problems.append(f"seq {cp.seq}: checkpointed but missing or different")
        return problems

    def verify(
        self, *, checkpoints: Sequence[Checkpoint] = (), chunk: int = 5000
    ) -> AuditVerification:
        """Walk the whole chain in chunks of ``chunk`` records; see the module docstring.

        Every row the readers can return is accounted for: the walk covers seqs 1..head,
        rows beyond the head are reported, and so is any row outside the chain's seqs (zero,
        negative, or in SQLite, which keeps any type in any column, not an integer at all).
        """
        walk = _Walk(self._key, checkpoints)
        head = self._head_state()
        if not head.present:
            walk.problem("head anchor missing (the head row was deleted)")
        elif not head.ok:
            walk.problem("head anchor fails its MAC (wrong key, or the anchor was edited)")
        for seq in self._strays():
            walk.problem(f"seq {seq!r}: a record outside the chain (seqs start at 1; not "
                         "appended by the log)")  # fmt: skip
        while True:
            for row in self._rows(walk.last_seq, head.limit, max(1, chunk)):
                walk.step(row)
            newer = self._head_state()
            if not (head.ok and newer.ok and newer.seq > head.seq):
                break
            head = newer  # appends arrived during the walk: walk them too
        walk.finish(newer if head.ok and newer.ok else head)
        return walk.result(head.seq if head.ok else 0)

    def _integral(self) -> sa.ColumnElement[bool]:
        """Rows whose seq is an integer (always so in PostgreSQL's bigint column)."""
        seq = self._records.c.seq
        return sa.true() if self._postgres else sa.func.typeof(seq) == "integer"

    def _strays(self) -> list[Any]:
        """Seqs of rows outside the chain's range 1.. (first ``MAX_PROBLEMS``)."""
        seq = self._records.c.seq
        outside = sa.or_(seq < 1, sa.not_(self._integral()))
        stmt = sa.select(seq).where(outside).order_by(seq).limit(MAX_PROBLEMS)
        with self._connect() as conn:
            return [r[0] for r in conn.execute(stmt)]

    def _head_state(self) -> _Head:
        """The anchor and the highest stored seq, read in one statement (one snapshot)."""
        rec = self._records
        top = (
            sa.select(sa.func.coalesce(sa.func.max(rec.c.seq), 0))
            .where(self._integral())
            .scalar_subquery()
        )
        cols = self._head.c
        one = self._head.c.id == 1
        fields = (
            sa.select(c).where(one).scalar_subquery()
            for c in (cols.last_seq, cols.last_mac, cols.mac)
        )
        stmt = sa.select(top, *fields)
        with self._connect() as conn:
            max_seq, last_seq, last_mac, mac = conn.execute(stmt).one()
        if last_seq is None:
            return _Head(0, "", int(max_seq), present=False, ok=False)
        if not (type(last_seq) is int and isinstance(last_mac, str) and isinstance(mac, str)):
            return _Head(0, "", int(max_seq), present=True, ok=False)  # SQLite: edited types
        ok = _same(mac, _head_mac(self._key, last_seq, last_mac))
        return _Head(last_seq, last_mac, int(max_seq), present=True, ok=ok)

    def _rows(self, after: int, upto: int, chunk: int) -> Iterator[sa.RowMapping]:
        """Records ``after < seq <= upto`` in seq order, fetched ``chunk`` at a time."""
        rec = self._records
        while after < upto:
            stmt = (
                sa.select(rec)
                .where(rec.c.seq > after, rec.c.seq <= upto, self._integral())
                .order_by(rec.c.seq)
                .limit(chunk)
            )
            with self._connect() as conn:
                rows = [r._mapping for r in conn.execute(stmt)]
            if not rows:
                return
            yield from rows
            after = int(rows[-1]["seq"])
