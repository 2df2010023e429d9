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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from aiarmor.core.errors import ConfigError, InputError
from aiarmor.serving.audit.store import (
    FIELDS,
    AuditLogError,
    AuditReader,
    GroupCommit,
    HotPath,
    one_line,
)

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

DECISIONS = frozenset({"allowed", "denied", "throttled", "blocked", "invalid", "error"})
"""The values :attr:`AuditEntry.decision` may take."""
MIN_KEY_BYTES = 32
"""Shortest HMAC key accepted (256 bits)."""
GENESIS_MAC = "0" * 64
"""``prev_mac`` of record 1."""
MAX_PROBLEMS = 50
_RECORD_TAG = b"aiarmor-audit-record/v1"
_HEAD_TAG = b"aiarmor-audit-head/v1"
_CHECKPOINT_TAG = b"aiarmor-audit-checkpoint/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_TEXT = 64 * 1024
_OLD = ("old_seq", "old_mac", "old_head_mac")
_NEW = ("new_seq", "new_mac", "new_head_mac")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One gateway request (or admin call) as it is recorded."""

    time: float
    """Unix seconds (stored with microsecond resolution)."""
    identity: str
    """Key id or JWT subject, never the secret."""
    model: str
    """Model name, or "" for admin calls."""
    route: str
    """E.g. "predict", "admin.keys.create"."""
    input_sha256: str
    """Hex SHA-256 of the request body ("" if none)."""
    output_summary: str
    """Short JSON text: labels / top-k, never full inputs."""
    decision: str
    """One of :data:`DECISIONS`."""
    status: int
    """HTTP status sent."""
    detector_scores: Mapping[str, float]
    """Detector name -> score (non-finite scores are stored as the strings "nan", "inf")."""


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The outcome of walking the chain."""

    ok: bool
    """True when no problem was found."""
    problems: tuple[str, ...]
    """One line per problem, each naming the first bad seq."""
    count: int
    """Records walked."""
    head_seq: int = 0
    """Last seq according to the head anchor (0 if the anchor is unusable)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log state to keep outside the database: the log must always extend it."""

    seq: int
    mac: str
    time: float
    tag: str
    """HMAC over (seq, mac, time) with the log key: the checkpoint came from the log."""

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps({"seq": self.seq, "mac": self.mac, "time": self.time, "tag": self.tag})


# ------------------------------------------------------------------------------------- keys


def load_key(source: str | Path) -> bytes:
    """The key from ``"env:NAME"`` or a file path (raw bytes, trailing newline stripped)."""
    if isinstance(source, str) and source.startswith("env:"):
        name = source[4:]
        value = os.environ.get(name, "").encode()
        where = f"environment variable {name}"
    else:
        path = Path(source)
        where = f"key file {path}"
        try:
            value = path.read_bytes()[: _MAX_TEXT + 1].rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from None
    return _check_key(value, where)


def _check_key(key: bytes, where: str = "the audit-log key") -> bytes:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{where} is missing or shorter than {MIN_KEY_BYTES} bytes")
    return key


# ------------------------------------------------------------------------------- encoding


def _encode(tag: bytes, *parts: int | str) -> bytes:
    """Unambiguous: every part is 8-byte length prefixed UTF-8 (ints as decimal)."""
    out = bytearray(tag)
    for part in parts:
        data = str(part).encode() if isinstance(part, int) else part.encode()
        out += len(data).to_bytes(8, "big") + data
    return bytes(out)


def _same(stored: object, expected: object) -> bool:
    """Constant-time equality of two MACs; False when either is not ASCII text
    (``hmac.compare_digest`` raises on it, and a tampered row or checkpoint may hold it)."""
    if not (isinstance(stored, str) and isinstance(expected, str)):
        return False
    return stored.isascii() and expected.isascii() and hmac.compare_digest(stored, expected)


def _mac(key: bytes, tag: bytes, *parts: int | str) -> str:
    return hmac.new(key, _encode(tag, *parts), hashlib.sha256).hexdigest()


def _record_mac(key: bytes, seq: int, prev_mac: str, row: Mapping[Any, Any]) -> str:
    return _mac(key, _RECORD_TAG, seq, prev_mac, *(row[f] for f in FIELDS))


def _head_mac(key: bytes, last_seq: int, last_mac: str) -> str:
    return _mac(key, _HEAD_TAG, last_seq, last_mac)


def _scores_json(scores: Mapping[str, float]) -> str:
    def num(value: float) -> float | str:
        value = float(value)
        return value if math.isfinite(value) else str(value)

    clean = {str(k): num(v) for k, v in scores.items()}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _text(name: str, value: object, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InputError(f"audit entry: {name} must be a string")
    if "\x00" in value or len(value) > limit:
        raise InputError(f"audit entry: {name} contains NUL or is longer than {limit}")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InputError(f"audit entry: {name} is not valid Unicode") from None
    return value


def _row(entry: AuditEntry) -> dict[str, Any]:
    """The stored columns of ``entry`` (validated)."""
    if entry.decision not in DECISIONS:
        raise InputError(f"audit entry: unknown decision {entry.decision!r}")
    if isinstance(entry.status, bool) or not isinstance(entry.status, int):
        raise InputError("audit entry: status must be an integer")
    if not 100 <= entry.status <= 599 or not math.isfinite(entry.time) or entry.time < 0:
        raise InputError("audit entry: status must be 100-599 and time finite and >= 0")
    sha = _text("input_sha256", entry.input_sha256, 64)
    if sha and not _HEX64.fullmatch(sha):
        raise InputError("audit entry: input_sha256 must be 64 lowercase hex digits or empty")
    row: dict[str, Any] = {f: _text(f, getattr(entry, f)) for f in FIELDS[1:6]}
    row.update(
        time_us=round(entry.time * 1_000_000),
        input_sha256=sha,
        decision=entry.decision,
        status=entry.status,
        detector_scores=_scores_json(entry.detector_scores),
    )
    return row


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


@dataclass(frozen=True, slots=True)
class _Head:
    seq: int
    mac: str
    top: int
    """Highest seq stored."""
    present: bool
    ok: bool

    @property
    def limit(self) -> int:
        """How far to walk: to the anchor, or over every stored record if it is unusable."""
        return self.seq if self.ok else self.top


class _Walk:
    """The chain checks, one record at a time (constant memory)."""

    def __init__(self, key: bytes, checkpoints: Sequence[Checkpoint]) -> None:
        self.key = key
        self.problems: list[str] = []
        self.more = 0
        self.count = 0
        self.last_seq = 0
        self.prev = GENESIS_MAC
        self.checkpoints = {c.seq: c.mac for c in checkpoints}
        for cp in checkpoints:
            if not _same(cp.tag, _checkpoint_tag(key, cp)):
                self.problem(f"checkpoint of seq {cp.seq} fails its tag (other log or key)")

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more += 1

    def step(self, row: sa.RowMapping) -> None:
        seq = int(row["seq"])
        linked = seq == self.last_seq + 1
        if not linked:
            self.problem(f"seq {self.last_seq + 1}: missing up to seq {seq - 1} (deleted)")
        wrong = _wrong_types(row)
        if wrong:
            self.problem(f"seq {seq}: {wrong} has the wrong type (record edited)")
        elif linked and not _same(row["prev_mac"], self.prev):
            self.problem(f"seq {seq}: prev_mac does not link to seq {seq - 1} "
                         "(records reordered, replaced or deleted)")  # fmt: skip
        if not wrong and not _same(row["mac"], _record_mac(self.key, seq, row["prev_mac"], row)):
            self.problem(f"seq {seq}: MAC mismatch (record edited, forged or replayed, or "
                         "written with another key)")  # fmt: skip
        expected = self.checkpoints.get(seq)
        if expected is not None and not _same(str(row["mac"]), expected):
            self.problem(f"seq {seq}: differs from its checkpoint (the log was rewritten)")
        self.prev, self.last_seq = str(row["mac"]), seq
        self.count += 1

    def finish(self, head: _Head) -> None:
        if head.ok and self.last_seq < head.seq:
            self.problem(f"seq {self.last_seq + 1}: missing up to the head anchor's seq "
                         f"{head.seq} (tail truncated)")  # fmt: skip
        elif head.ok and not _same(self.prev, head.mac):
            self.problem(f"seq {head.seq}: does not match the head anchor (tail replaced)")
        if head.ok and head.top > head.seq:
            self.problem(f"seq {head.seq + 1}: records beyond the head anchor (not appended "
                         "by the log)")  # fmt: skip
        for seq in sorted(s for s in self.checkpoints if s > self.last_seq):
            self.problem(f"seq {seq}: checkpointed but missing (log truncated or rolled back)")

    def result(self, head_seq: int) -> AuditVerification:
        problems = [*self.problems]
        if self.more:
            problems.append(f"... and {self.more} more problems")
        return AuditVerification(not problems, tuple(problems), self.count, head_seq)


_INTEGER_FIELDS = frozenset({"time_us", "status"})


def _wrong_types(row: sa.RowMapping) -> str:
    """The first field whose stored type the log never writes ("" if none): SQLite stores
    any type in any column, and a MAC over a re-typed field would not even be computable."""
    for name in (*FIELDS, "prev_mac", "mac"):
        want: type = int if name in _INTEGER_FIELDS else str
        if type(row[name]) is not want:
            return name
    return ""


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint in ``path`` (one line of JSON); ConfigError if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(int(data["seq"]), str(data["mac"]), float(data["time"]), str(data["tag"]))
    except OSError as exc:
        raise ConfigError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"checkpoint {path} is not an aiarmor audit-log checkpoint") from None


def _checkpoint_tag(key: bytes, cp: Checkpoint) -> str:
    return _mac(key, _CHECKPOINT_TAG, cp.seq, cp.mac, repr(cp.time))
