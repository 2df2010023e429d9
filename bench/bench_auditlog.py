"""Audit-log throughput (SQLite WAL + synchronous=FULL, PostgreSQL) and detector cost per query.

    .venv/bin/python bench/bench_auditlog.py [--appends 1000] [--verify-rows 20000]
        [--detector-queries 1000] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

(about 2-3 minutes on 2 cores: durable appends are bounded by the disk's fsync rate)

For each backend, in one run: durable appends per second through :class:`AuditLog` with one
writer and with 4 threads sharing it (group commit), next to the floor — a bare durable
INSERT + COMMIT per row into a table of the same shape with the same engine settings (no
HMAC, no head row) — and
``verify`` rows per second over a log of ``--verify-rows`` records (written in one transaction
by the same chain code, so the log is valid). Then the per-query cost (median microseconds)
of the Blacklight and PRADA detectors with full windows, for a 64-value input (8x8 digits) and
a 3072-value one (32x32x3). The machine is shared: compare rows of one run, not across runs.
PostgreSQL rows print ``n/a`` when the server is unreachable.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from aiarmor.serving import auditlog, auditstore
from aiarmor.serving.auditlog import AuditEntry, AuditLog
from aiarmor.serving.auditstore import FIELDS
from aiarmor.serving.detect import BlacklightDetector, PradaDetector

KEY = b"bench-key-" * 4


def _entry(i: int) -> AuditEntry:
    scores = {"blacklight": 0.0, "prada": 0.01}
    return AuditEntry(time.time(), f"key-{i % 50}", "digits", "predict", f"{i:064x}",
                      '{"labels":[3]}', "allowed", 200, scores)  # fmt: skip


def _rate(n: int, fn: Callable[[int], object], threads: int) -> float:
    """Calls of ``fn`` per second, ``n`` in all, split over ``threads`` threads."""
    per = n // threads
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(per):
                fn(offset + i)
        except BaseException as exc:  # surfaced below: a failed run must not print a rate
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t * per,)) for t in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return per * threads / (time.perf_counter() - start)


def _bare_rate(url: str, n: int, threads: int) -> float:
    """The floor: one durable INSERT + COMMIT per row, same engine setup, no chain."""
    engine = auditstore._engine(url, must_exist=False)
    writer = engine.execution_options(aiarmor_write=True)
    meta = sa.MetaData()
    cols = [sa.Column(f, sa.Text) for f in FIELDS]
    seq = sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True)
    table = sa.Table(f"bare_{uuid.uuid4().hex[:8]}", meta, seq, *cols)
    meta.create_all(engine)
    row = {f: "x" for f in FIELDS}

    def insert(_: int) -> None:
        with writer.begin() as conn:
            conn.execute(table.insert().values(**row))

    try:
        return _rate(n, insert, threads)
    finally:
        meta.drop_all(engine)
        engine.dispose()


def _verify_rate(url: str, rows: int) -> float:
    """Rows per second of ``verify`` over a fresh log of ``rows`` records."""
    prefix = f"bv{uuid.uuid4().hex[:8]}"
    log = AuditLog(url, KEY, table_prefix=prefix)
    try:
        _bulk_fill(log, rows)
        start = time.perf_counter()
        result = log.verify()
        elapsed = time.perf_counter() - start
        if not result.ok or result.count != rows:
            raise RuntimeError(f"verify failed on the benchmark log: {result.problems[:2]}")
        return rows / elapsed
    finally:
        _drop(log)


def _bulk_fill(log: AuditLog, rows: int) -> None:
    """Append ``rows`` valid records in one transaction (setup only, not measured)."""
    prev, seq = auditlog.GENESIS_MAC, 0
    batch = []
    for i in range(rows):
        seq += 1
        row = auditlog._row(_entry(i))
        mac = auditlog._record_mac(KEY, seq, prev, row)
        batch.append({"seq": seq, "prev_mac": prev, "mac": mac, **row})
        prev = mac
    with log._writer.begin() as conn:
        conn.execute(log._records.insert(), batch)
        conn.execute(log._head.update().values(
            last_seq=seq, last_mac=prev, mac=auditlog._head_mac(KEY, seq, prev)))  # fmt: skip


def _drop(log: AuditLog) -> None:
    log._records.metadata.drop_all(log._engine)
    log.close()


def _append_rates(url: str, n: int) -> tuple[float, float]:
    rates = []
    for threads in (1, 4):
        log = AuditLog(url, KEY, table_prefix=f"ba{uuid.uuid4().hex[:8]}")
        try:
            rates.append(_rate(n, lambda i, log=log: log.append(_entry(i)), threads))
            if not log.verify().ok:
                raise RuntimeError("the benchmark log does not verify")
        finally:
            _drop(log)
    return rates[0], rates[1]


def _reachable(url: str) -> bool:
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def _audit_table(urls: dict[str, str | None], appends: int, verify_rows: int) -> list[str]:
    lines = [
        "| backend | writers | appends/s (AuditLog) | bare durable inserts/s | ratio | "
        "verify rows/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, url in urls.items():
        if url is None:
            lines.append(f"| {name} | 1 / 4 | n/a | n/a | n/a | n/a |")
            continue
        one, four = _append_rates(url, appends)
        bare1, bare4 = _bare_rate(url, appends, 1), _bare_rate(url, appends, 4)
        verify = _verify_rate(url, verify_rows)
        lines.append(f"| {name} | 1 | {one:,.0f} | {bare1:,.0f} | {one / bare1:.2f} | "
                     f"{verify:,.0f} |")  # fmt: skip
        lines.append(f"| {name} | 4 threads | {four:,.0f} | {bare4:,.0f} | {four / bare4:.2f} "
                     "| |")  # fmt: skip
    return lines


def _detector_table(queries: int) -> list[str]:
    lines = ["| detector | input values | µs/query (median) |", "|---|---|---|"]
    rng = np.random.default_rng(0)
    for size in (64, 3072):
        base = rng.uniform(0, 1, size).astype(np.float32)
        for detector in (BlacklightDetector(), PradaDetector()):
            times = []
            for i in range(queries):
                x = (base + rng.normal(0, 0.3, size)).clip(0, 1)[None] if i % 2 else base[None]
                start = time.perf_counter()
                detector.observe("client", "model", x)
                times.append(time.perf_counter() - start)
            warm = times[queries // 2 :]  # windows full by then
            lines.append(f"| {detector.name} | {size} | {statistics.median(warm) * 1e6:,.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--verify-rows", type=int, default=20_000)
    parser.add_argument("--detector-queries", type=int, default=1000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls: dict[str, str | None] = {
            "SQLite (WAL, FULL)": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "PostgreSQL": args.pg_url if _reachable(args.pg_url) else None,
        }
        lines = _audit_table(urls, args.appends, args.verify_rows)
    print("\n".join(lines))
    print()
    print("\n".join(_detector_table(args.detector_queries)))


if __name__ == "__main__":
    main()
