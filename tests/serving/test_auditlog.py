"""The HMAC-chained audit log on SQLite and on the real PostgreSQL: every kind of tampering is
detected, concurrent writers keep one chain, and a kill -9 under load loses no acknowledged
append."""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

sa = pytest.importorskip("sqlalchemy")

from aiarmor.core.errors import ConfigError, InputError  # noqa: E402
from aiarmor.serving.audit.log import (  # noqa: E402
    AuditEntry,
    AuditLog,
    AuditLogError,
    AuditReader,
    load_key,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
PG_URL = os.environ.get(
    "AIARMOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# CI sets AIARMOR_REQUIRE_POSTGRES=1 (it has the server), so there an unreachable PostgreSQL
# fails the run instead of silently skipping the PostgreSQL half of these tests.
REQUIRED = os.environ.get("AIARMOR_REQUIRE_POSTGRES") == "1"


def _postgres_reason() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL unreachable at {PG_URL}: {' '.join(str(exc).split())[:120]}"
    return None


_PG_REASON = _postgres_reason()
_FORK = multiprocessing.get_context("fork")


def entry(i: int = 0, **changes: object) -> AuditEntry:
    fields: dict[str, object] = {
        "time": 1_700_000_000.25 + i,
        "identity": f"key-{i % 3}",
        "model": "digits",
        "route": "predict",
        "input_sha256": f"{i:064x}",
        "output_summary": '{"labels":[3]}',
        "decision": "allowed",
        "status": 200,
        "detector_scores": {"blacklight": float(i), "prada": 0.5},
    }
    fields.update(changes)
    return AuditEntry(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(url, table prefix) of a fresh log; PostgreSQL tables are dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}", prefix
        return
    if _PG_REASON is not None:
        if REQUIRED:
            pytest.fail(f"AIARMOR_REQUIRE_POSTGRES=1 but {_PG_REASON}")
        pytest.skip(_PG_REASON)
    yield PG_URL, prefix
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}_records, {prefix}_head")
    engine.dispose()


def _log(db: tuple[str, str], key: bytes = KEY) -> AuditLog:
    return AuditLog(db[0], key, table_prefix=db[1])


def _filled(db: tuple[str, str], n: int = 6) -> AuditLog:
    log = _log(db)
    assert [log.append(entry(i)) for i in range(n)] == list(range(1, n + 1))
    return log


def _sql(db: tuple[str, str], *statements: str) -> None:
    """Tamper with the tables directly, as someone with database access would."""
    engine = sa.create_engine(db[0])
    with engine.begin() as conn:
        for stmt in statements:
            conn.exec_driver_sql(
                stmt.replace("R.", f"{db[1]}_records").replace("H.", f"{db[1]}_head")
            )
    engine.dispose()


def _first_problem(log: AuditLog) -> str:
    result = log.verify()
    assert not result.ok
    return result.problems[0]


def test_intact_log_verifies_and_queries(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        result = log.verify(chunk=4)  # several chunks
        assert (result.ok, result.problems, result.count, result.head_seq) == (True, (), 6, 6)
        rows = log.query(identity="key-1", limit=10)
        assert [r["seq"] for r in rows] == [5, 2]
        assert rows[0]["detector_scores"] == {"blacklight": 4.0, "prada": 0.5}
        assert rows[0]["time"] == pytest.approx(1_700_000_004.25)
        assert [r["seq"] for r in log.query(since=1_700_000_004.0)] == [6, 5]
        assert log.query(model="other") == []


def test_empty_log_verifies(db: tuple[str, str]) -> None:
    with _log(db) as log:
        assert log.verify().ok and log.verify().count == 0


BODY = (
    "time_us, identity, model, route, input_sha256, output_summary, decision, status, "
    "detector_scores"
)
EDITS = {
    "time_us": "time_us = time_us + 1",
    "identity": "identity = 'someone-else'",
    "model": "model = 'other'",
    "route": "route = 'admin.keys.create'",
    "input_sha256": "input_sha256 = '" + "a" * 64 + "'",
    "output_summary": "output_summary = '{\"labels\":[4]}'",
    "decision": "decision = 'denied'",
    "status": "status = 403",
    "detector_scores": 'detector_scores = \'{"blacklight":0.0,"prada":0.5}\'',
    "prev_mac": "prev_mac = '" + "0" * 64 + "'",
    "mac": "mac = '" + "f" * 64 + "'",
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_an_edit_of_any_field_is_detected(db: tuple[str, str], field: str) -> None:
    with _filled(db) as log:
        _sql(db, f"UPDATE R. SET {EDITS[field]} WHERE seq = 3")
        assert _first_problem(log).startswith("seq 3:")


def test_deleting_a_middle_record_is_detected(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        _sql(db, "DELETE FROM R. WHERE seq = 3")
        assert _first_problem(log) == "seq 3: missing up to seq 3 (deleted)"


def test_truncating_the_tail_is_detected(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        _sql(db, "DELETE FROM R. WHERE seq >= 5")
        assert "seq 5: missing up to the head anchor's seq 6" in _first_problem(log)


def test_deleting_everything_but_the_head_is_detected(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        _sql(db, "DELETE FROM R.")
        assert "tail truncated" in _first_problem(log)


def test_deleting_the_head_anchor_is_detected_and_blocks_appends(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        _sql(db, "DELETE FROM H.")
        assert _first_problem(log).startswith("head anchor missing")
        with pytest.raises(AuditLogError, match="head anchor is missing"):
            log.append(entry())


def test_forging_the_head_anchor_is_detected_and_blocks_appends(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        last = "(SELECT mac FROM R. WHERE seq = 5)"
        _sql(db, "DELETE FROM R. WHERE seq = 6", f"UPDATE H. SET last_seq = 5, last_mac = {last}")
        assert _first_problem(log).startswith("head anchor fails its MAC")
        with pytest.raises(AuditLogError, match="fails its MAC"):
            log.append(entry())


def test_reordering_two_records_is_detected(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        _sql(db, "UPDATE R. SET seq = -2 WHERE seq = 2", "UPDATE R. SET seq = 2 WHERE seq = 4",
             "UPDATE R. SET seq = 4 WHERE seq = -2")  # fmt: skip
        assert _first_problem(log).startswith("seq 2:")


def test_a_forged_record_in_place_of_a_deleted_one_is_detected(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        _sql(db, "DELETE FROM R. WHERE seq = 3",
             "INSERT INTO R. SELECT 3, time_us, 'forged', model, route, input_sha256, "
             "output_summary, decision, status, detector_scores, mac, "
             f"'{'1' * 64}' FROM R. WHERE seq = 2")  # fmt: skip
        assert _first_problem(log).startswith("seq 3: MAC mismatch")


def test_a_forged_record_after_the_head_is_detected(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        _sql(db, f"INSERT INTO R. SELECT 7, {BODY}, mac, mac FROM R. WHERE seq = 6")
        assert _first_problem(log) == (
            "seq 7: records beyond the head anchor (not appended by the log)"
        )


@pytest.mark.parametrize("seq", [0, -1, -(2**62)])
def test_a_forged_record_at_seq_zero_or_below_is_detected(db: tuple[str, str], seq: int) -> None:
    """The walk starts at seq 1; a row below it is still one the readers list."""
    with _filled(db, 3) as log:
        _sql(db, f"INSERT INTO R. SELECT {seq}, {BODY}, mac, mac FROM R. WHERE seq = 2")
        assert seq in [r["seq"] for r in log.query(limit=100)]
        assert _first_problem(log) == (
            f"seq {seq}: a record outside the chain (seqs start at 1; not appended by the log)"
        )


def test_an_empty_chain_with_a_forged_record_below_it_is_detected(db: tuple[str, str]) -> None:
    with _log(db) as log:
        _sql(db, "INSERT INTO R. VALUES (0, 1, 'x', 'm', 'predict', '', '', 'allowed', 200, "
                 "'{}', '" + "0" * 64 + "', '" + "0" * 64 + "')")  # fmt: skip
        assert not log.verify().ok and log.verify().count == 0


def test_sqlite_rows_whose_seq_or_fields_are_not_integers_are_detected(tmp_path: Path) -> None:
    """SQLite keeps any type in any column: text and real seqs, text and real fields."""
    db = (f"sqlite:///{tmp_path / 'audit.db'}", "aiarmor_audit")
    with _filled(db, 3) as log:
        _sql(db, f"INSERT INTO R. SELECT 'abc', {BODY}, mac, mac FROM R. WHERE seq = 2")
        assert any(r["seq"] == "abc" for r in log.query(limit=10))
        assert "seq 'abc': a record outside the chain" in _first_problem(log)
        _sql(db, "DELETE FROM R. WHERE seq = 'abc'", "UPDATE R. SET seq = 2.5 WHERE seq = 2")
        assert not log.verify().ok
        _sql(db, "UPDATE R. SET seq = 2 WHERE seq = 2.5", "UPDATE R. SET time_us = 1.5 "
                 "WHERE seq = 2")  # fmt: skip
        assert _first_problem(log).startswith("seq 2: ")
        _sql(db, "UPDATE R. SET time_us = 'soon', status = 'ok' WHERE seq = 2")
        assert _first_problem(log).startswith("seq 2: ")


def test_non_ascii_macs_are_reported_not_a_crash(db: tuple[str, str]) -> None:
    with _filled(db, 3) as log:
        _sql(db, "UPDATE R. SET mac = 'é' WHERE seq = 2", "UPDATE H. SET mac = 'é'")
        problems = log.verify().problems
        assert problems[0].startswith("head anchor fails its MAC")
        assert any(p.startswith("seq 2: MAC mismatch") for p in problems)
        with pytest.raises(AuditLogError, match="fails its MAC"):
            log.checkpoint()


def test_replaying_a_record_under_a_new_seq_is_detected(db: tuple[str, str]) -> None:
    with _filled(db) as log:
        # record 2 again as seq 3 (its old MAC, relinked), the original 3 dropped
        _sql(db, "DELETE FROM R. WHERE seq = 3",
             f"INSERT INTO R. SELECT 3, {BODY}, mac, mac FROM R. WHERE seq = 2")  # fmt: skip
        assert _first_problem(log).startswith("seq 3: MAC mismatch")


def test_another_key_is_detected(db: tuple[str, str]) -> None:
    _filled(db).close()
    with _log(db, OTHER_KEY) as other:
        result = other.verify()
    assert not result.ok
    assert result.problems[0].startswith("head anchor fails its MAC")
    assert result.problems[1].startswith("seq 1: MAC mismatch")


def test_a_copied_database_under_another_key_is_detected(db: tuple[str, str]) -> None:
    """Swapping in a log written (consistently) with someone else's key."""
    with _log(db, OTHER_KEY) as other:
        other.append(entry(1))
    with _log(db) as log:
        assert not log.verify().ok


def test_rollback_to_an_older_consistent_state_is_caught_by_a_checkpoint(
    db: tuple[str, str],
) -> None:
    with _filled(db, 4) as log:
        _sql(db, f"CREATE TABLE old_{db[1]} AS SELECT * FROM H.")
        log.append(entry(4))
        log.append(entry(5))
        checkpoint = log.checkpoint()
        assert checkpoint.seq == 6 and log.verify(checkpoints=[checkpoint]).ok
        _sql(db, "DELETE FROM R. WHERE seq > 4", "DELETE FROM H.",
             f"INSERT INTO H. SELECT * FROM old_{db[1]}", f"DROP TABLE old_{db[1]}")  # fmt: skip
        assert log.verify().ok  # a consistent rollback: only a checkpoint can tell
        result = log.verify(checkpoints=[checkpoint])
        assert result.problems == (
            "seq 6: checkpointed but missing (log truncated or rolled back)",
        )


def test_a_forged_checkpoint_is_refused(db: tuple[str, str]) -> None:
    with _filled(db, 2) as log:
        cp = log.checkpoint()
        forged = type(cp)(cp.seq, cp.mac, cp.time + 1, cp.tag)
        assert "fails its tag" in log.verify(checkpoints=[forged]).problems[0]


def test_concurrent_appends_from_threads_keep_one_chain(db: tuple[str, str]) -> None:
    shared = _log(db)
    own = [_log(db) for _ in range(2)]  # separate engines: like separate workers
    logs = [shared, shared, *own]
    seqs: list[int] = []
    lock = threading.Lock()

    def work(log: AuditLog, offset: int) -> None:
        for i in range(15):
            seq = log.append(entry(offset + i))
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=work, args=(log, 100 * n)) for n, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == list(range(1, 61))
    result = shared.verify()
    assert result.ok and result.count == 60
    for log in {id(x): x for x in logs}.values():
        log.close()


def _write_forever(url: str, prefix: str, count: int, fd: int, threads: int = 1) -> None:
    """Child process: ``threads`` threads append (group commit), each acknowledged seq is
    reported on ``fd`` (unbuffered, one atomic pipe write per line)."""
    log = AuditLog(url, KEY, table_prefix=prefix)

    def loop() -> None:
        i = 0
        while count < 0 or i < count:
            seq = log.append(entry(i, detector_scores={"s": i / 7}))
            os.write(fd, f"{seq}\n".encode())
            i += 1

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def _writer(
    db: tuple[str, str], count: int, threads: int = 1
) -> tuple[multiprocessing.process.BaseProcess, IO[str]]:
    """A forked writer process (fork: no second import of torch-heavy aiarmor)."""
    read_fd, write_fd = os.pipe()
    args = (*db, count, write_fd, threads)
    proc = _FORK.Process(target=_write_forever, args=args, daemon=True)
    proc.start()
    os.close(write_fd)
    return proc, os.fdopen(read_fd, "r")


@pytest.mark.slow
def test_concurrent_appends_from_two_processes_keep_one_chain(db: tuple[str, str]) -> None:
    _log(db).close()  # create the tables first
    writers = [_writer(db, 40) for _ in range(2)]
    seqs = sorted(int(s) for _, out in writers for s in out.read().split())
    for proc, out in writers:
        proc.join(60)
        out.close()
        assert proc.exitcode == 0
    assert seqs == list(range(1, 81))
    with _log(db) as log:
        result = log.verify()
        assert result.ok and result.count == 80


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_append(db: tuple[str, str]) -> None:
    _log(db).close()
    proc, out = _writer(db, -1, threads=4)  # group commit under load
    acknowledged = [int(out.readline()) for _ in range(80)]
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)  # mid-append: it is writing as fast as it can
    proc.join(60)
    acknowledged += [int(s) for s in out.read().split()]
    out.close()
    assert proc.exitcode == -signal.SIGKILL
    with _log(db) as log:
        result = log.verify()
        assert result.ok, result.problems
        stored = {r["seq"] for r in log.query(limit=10_000)}
        assert set(acknowledged) <= stored
        assert result.count >= max(acknowledged)
        assert log.append(entry()) == result.count + 1  # the chain continues after recovery


def test_bad_input_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        AuditLog(url, b"short")
    with pytest.raises(ConfigError, match="must be sqlite"):
        AuditLog("mysql://x/y", KEY)
    with pytest.raises(ConfigError, match="must be a file"):
        AuditLog("sqlite://", KEY)
    with pytest.raises(ConfigError, match="not a database URL"):
        AuditLog("not a url", KEY)
    with pytest.raises(AuditLogError, match="does not exist"):
        AuditReader(url)
    with AuditLog(url, KEY) as log:
        for bad in (entry(decision="maybe"), entry(status=999), entry(input_sha256="XYZ"),
                    entry(identity="a\x00b"), entry(time=float("nan"))):  # fmt: skip
            with pytest.raises(InputError):
                log.append(bad)
        assert log.verify().count == 0
        assert log.append(entry(detector_scores={"x": float("inf")})) == 1
        assert log.query()[0]["detector_scores"] == {"x": "inf"}
    assert "k" * 32 not in repr(AuditLog(url, KEY))


def test_load_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(b"x" * 40 + b"\n")
    assert load_key(key_file) == b"x" * 40
    monkeypatch.setenv("AUDIT_KEY", "y" * 32)
    assert load_key("env:AUDIT_KEY") == b"y" * 32
    monkeypatch.setenv("AUDIT_KEY", "y" * 31)
    with pytest.raises(ConfigError, match="environment variable AUDIT_KEY is missing or shorter"):
        load_key("env:AUDIT_KEY")
    with pytest.raises(ConfigError, match="cannot read key file"):
        load_key(tmp_path / "missing.key")


def test_group_commit_batches_waiting_rows_and_shares_errors() -> None:
    from aiarmor.serving.audit.store import GroupCommit

    batches: list[list[int]] = []
    fail = threading.Event()
    started = threading.Event()

    def commit(rows: list[dict[str, int]]) -> list[int]:
        if not batches:  # hold the first transaction until every other row is waiting
            started.set()
            deadline = time.monotonic() + 10
            while len(group._queue) < 7 and time.monotonic() < deadline:
                time.sleep(0.001)
        if fail.is_set():
            raise RuntimeError("disk full")
        batches.append([r["i"] for r in rows])
        start = sum(len(b) for b in batches[:-1])
        return list(range(start + 1, start + len(rows) + 1))

    group = GroupCommit(commit)
    seqs: list[int] = []

    def submit(i: int) -> None:
        seqs.append(group.submit({"i": i}))

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert started.wait(10)
    threads = [threading.Thread(target=submit, args=(i,)) for i in range(1, 8)]
    for t in threads:
        t.start()
    for t in [first, *threads]:
        t.join()
    assert sorted(seqs) == list(range(1, 9))
    assert batches[0] == [0] and sorted(batches[1]) == list(range(1, 8))  # one transaction
    fail.set()
    with pytest.raises(RuntimeError, match="disk full"):
        group.submit({"i": 9})
    fail.clear()
    assert group.submit({"i": 10}) == 9  # the writer goes on after a failure
    group.close()
    with pytest.raises(AuditLogError, match="closed"):
        group.submit({"i": 11})


def test_group_commit_serves_coroutines_without_blocking_the_loop() -> None:
    import asyncio

    from aiarmor.serving.audit.store import GroupCommit

    release = threading.Event()
    batches: list[list[int]] = []

    def commit(rows: list[dict[str, int]]) -> list[int]:
        release.wait(10)  # a slow disk: the loop must keep running meanwhile
        if any(r["i"] < 0 for r in rows):
            raise OSError("disk full")
        batches.append([r["i"] for r in rows])
        start = sum(len(b) for b in batches[:-1])
        return list(range(start + 1, start + len(rows) + 1))

    group = GroupCommit(commit)

    async def main() -> list[int]:
        tasks = [asyncio.create_task(group.submit_async({"i": i})) for i in range(5)]
        ticks = 0
        while ticks < 20:  # the loop is free while the commit waits
            await asyncio.sleep(0.001)
            ticks += 1
        release.set()
        seqs = await asyncio.gather(*tasks)
        cancelled = asyncio.create_task(group.submit_async({"i": 5}))
        await asyncio.sleep(0)
        cancelled.cancel()  # nobody waits for it any more: the writer must not mind
        after = await group.submit_async({"i": 6})
        with pytest.raises(OSError, match="disk full"):
            await group.submit_async({"i": -1})
        return [*seqs, after, await group.submit_async({"i": 7})]

    seqs = asyncio.run(main())
    assert seqs == [1, 2, 3, 4, 5, 7, 8]  # the cancelled row was still written (seq 6)
    assert sorted(i for b in batches for i in b) == list(range(8))
    group.close()


def test_verify_while_appending_reports_no_false_alarm(db: tuple[str, str]) -> None:
    with _filled(db, 3) as log:
        stop = threading.Event()

        def append_until_stopped() -> None:
            i = 0
            while not stop.is_set() and i < 300:
                log.append(entry(i))
                i += 1

        writer = threading.Thread(target=append_until_stopped)
        writer.start()
        try:
            results = [log.verify(chunk=2) for _ in range(5)]
        finally:
            stop.set()
            writer.join()
        assert all(r.ok for r in results), [r.problems for r in results]
        assert log.verify().ok


@pytest.mark.parametrize("scores", ['{"prada": NaN}', '{"prada": 1e999}', '{"prada": -Infinity}'])
def test_a_tampered_non_finite_score_is_listed_as_stored_text(
    db: tuple[str, str], scores: str
) -> None:
    """Readers answer JSON (GET /v1/audit/log, show --json): never NaN or Infinity tokens."""
    import json

    with _filled(db, 2) as log:
        _sql(db, f"UPDATE R. SET detector_scores = '{scores}' WHERE seq = 2")
        row = log.query(limit=1)[0]
        assert row["detector_scores"] == scores
        json.dumps(row, allow_nan=False)
        assert _first_problem(log).startswith("seq 2: MAC mismatch")
