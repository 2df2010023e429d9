"""Verification of the audit chain: the checks of :meth:`AuditLog.verify
<aiarmor.serving.audit.log.AuditLog.verify>`, walked one record at a time (constant memory),
and their outcome, :class:`AuditVerification`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from aiarmor.serving.audit.chain import (
    GENESIS_MAC,
    Checkpoint,
    _checkpoint_tag,
    _record_mac,
    _same,
)
from aiarmor.serving.audit.store import FIELDS

__all__ = ["MAX_PROBLEMS", "AuditVerification"]

MAX_PROBLEMS = 50
"""Problems listed by one verification; the rest are counted."""


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
