"""The gateway's overhead: all protections on vs a bare FastAPI endpoint serving the same model.

    .venv/bin/python bench/bench_gateway.py [--requests 1000] [--concurrency 8] [--bursts 10]

Each server runs in its own process (uvicorn, one worker, loopback, free port): ``bare`` is a
plain FastAPI route calling the same TorchScript MLP (32 -> 64 -> 10); ``gateway`` is
``aiarmor serve``'s app with a verified signed model, API-key auth, in-process rate limits and
budgets, strict input validation, Blacklight and PRADA detectors, top-k output hardening,
security headers, Prometheus metrics and the durable audit log (SQLite WAL, synchronous=FULL);
``gateway+pg`` is the same with the audit log in PostgreSQL (database ``test`` on
127.0.0.1:5432, user postgres, a throw-away table prefix dropped at the end), and
``gateway, audit on tmpfs`` puts the SQLite audit log in /dev/shm, where fsync costs nothing:
not durable, it separates the gateway's own CPU cost from the cost of durable appends. A separate
load-generator process (httpx, one JSON sample per request) measures latency with one client
in sequence (p50/p99) and throughput with ``--concurrency`` clients. All servers run at once
and are loaded interleaved (request by request for latency, burst by burst for throughput), so
the noise of a shared machine falls on all of them alike; the server CPU time per request
(Linux /proc) is the steadiest number. Bounded: about 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
N_FEATURES = 32
WARM_UP = 20


# ------------------------------------------------------------------------------- servers


def _make_model(root: Path) -> None:
    import torch

    from aiarmor.modelfiles.keys import generate_keypair, save_keypair
    from aiarmor.modelfiles.signing import sign

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 10)).eval()  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(net), str(root / "model.pt"))
    key = generate_keypair("ed25519")
    save_keypair(key, root / "signer")
    sign(root / "model.pt", key)
    (root / "server.secret").write_text(secrets.token_hex(32))
    (root / "audit.key").write_text(secrets.token_hex(32))


def _settings(root: Path, audit_dir: Path | None = None) -> Any:
    from aiarmor.serving.settings import parse_settings

    audit_dir = audit_dir or root
    return parse_settings(
        {
            "auth": {"key_store": f"sqlite:///{root / 'keys.db'}",
                     "server_secret": {"file": "server.secret"}},
            "limits": {"rate": 1e6, "burst": 1_000_000, "daily_budget": 10**9},
            "detection": {"config": {"blacklight": {"action": "log"}, "prada": {"action": "log"}}},
            "audit": {"url": f"sqlite:///{audit_dir / 'audit.db'}", "key": {"file": "audit.key"}},
            "models": [{"name": "mlp", "path": "model.pt", "public_key": "signer.pub",
                        "n_classes": 10,
                        "input": {"shape": [N_FEATURES], "min": -10.0, "max": 10.0},
                        "output": {"default": {"top_k": 3, "round_digits": 3}}}],
        },
        base_dir=root,
    )  # fmt: skip


def _bare_app(root: Path) -> Any:
    import numpy as np
    from fastapi import FastAPI

    from aiarmor.targets.loading import load_target

    target = load_target(str(root / "model.pt"), n_classes=10)
    app = FastAPI()

    @app.post("/v1/models/mlp/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        proba = target.predict_proba(np.asarray(body["inputs"], dtype=np.float32))
        return {"labels": proba.argmax(axis=1).tolist(), "scores": proba.tolist()}

    return app


def _gateway_app(root: Path, mode: str) -> Any:
    from aiarmor.serving.audit.log import AuditEntry, AuditLog
    from aiarmor.serving.http.app import create_app
    from aiarmor.serving.wiring import open_audit_log

    shm = Path(tempfile.mkdtemp(dir="/dev/shm")) if mode == "gateway, audit on tmpfs" else None
    settings = _settings(root, shm)
    if mode == "gateway+pg":
        key = (root / "audit.key").read_bytes().strip()
        audit = AuditLog(PG_URL, key, table_prefix=os.environ["BENCH_PG_PREFIX"])
    else:
        audit = open_audit_log(settings)
    # the bench's key was made in Python, not with `aiarmor keys create`: record it as the CLI
    # would, since serve refuses an empty audit log beside a key store that holds keys
    audit.append(AuditEntry(time.time(), "cli", "", "keys.create", "", "{}", "allowed", 201, {}))
    return create_app(settings, audit_log=audit)


def serve(mode: str, root: Path, port: int) -> None:
    """Run one server (called in a subprocess)."""
    import torch
    import uvicorn

    torch.set_num_threads(1)  # as `aiarmor serve` does (server.inference_threads); both alike
    app = _bare_app(root) if mode == "bare" else _gateway_app(root, mode)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------------- load generator


def load(urls: list[str], key: str, n: int, concurrency: int, bursts: int) -> None:
    """Load every server, interleaved, and print one JSON line (called in a subprocess).

    Latency: one client sends request i to every server in turn (the order rotates), so a
    noisy moment hits all servers alike. Throughput: ``bursts`` rounds in which each server
    in turn gets ``n / bursts`` requests from ``concurrency`` threads; per server the median
    burst rate, and per burst the rate relative to the first server (``bare``).
    """
    import httpx
    import numpy as np

    rng = np.random.default_rng(0)
    bodies = [{"inputs": rng.uniform(0, 1, (1, N_FEATURES)).round(4).tolist()} for _ in range(n)]
    headers = {"Authorization": f"Bearer {key}"}
    clients = [httpx.Client(base_url=u, headers=headers, timeout=30) for u in urls]

    def post(http: httpx.Client, body: dict[str, Any]) -> float:
        t0 = time.perf_counter()
        r = http.post("/v1/models/mlp/predict", json=body)
        if r.status_code != 200:
            raise SystemExit(f"status {r.status_code}: {r.text[:200]}")
        return time.perf_counter() - t0

    for http in clients:
        for body in bodies[:WARM_UP]:
            post(http, body)
    latency: list[list[float]] = [[] for _ in urls]
    for i, body in enumerate(bodies):
        for j in range(len(urls)):
            k = (i + j) % len(urls)
            latency[k].append(post(clients[k], body))
    rates: list[list[float]] = [[] for _ in urls]
    share = max(concurrency, n // bursts)
    for b in range(bursts):
        for j in range(len(urls)):
            k = (b + j) % len(urls)
            rates[k].append(_burst(urls[k], headers, bodies[:share], concurrency, post))
    out = []
    for lat, rate in zip(latency, rates, strict=True):
        q = statistics.quantiles(lat, n=100)
        ratio = statistics.median(r / b for r, b in zip(rate, rates[0], strict=True))
        out.append({"p50": q[49] * 1e3, "p99": q[98] * 1e3, "rps": statistics.median(rate),
                    "ratio": ratio, "sent": WARM_UP + n + share * bursts})  # fmt: skip
    print(json.dumps(out))


def _burst(url: str, headers: dict[str, str], bodies: list[Any], concurrency: int,
           post: Callable[[Any, Any], float]) -> float:  # fmt: skip
    """Requests per second of ``concurrency`` keep-alive clients sending ``bodies``."""
    import httpx

    clients = [httpx.Client(base_url=url, headers=headers, timeout=30) for _ in range(concurrency)]
    for http in clients:  # connect before the clock starts
        http.get("/healthz")
    threads = [
        threading.Thread(target=lambda h=h, i=i: [post(h, b) for b in bodies[i::concurrency]])
        for i, h in enumerate(clients)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for http in clients:
        http.close()
    return len(bodies) / wall


# ---------------------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(mode: str, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, __file__, "--serve", mode, "--root", str(root), "--port", str(port)]
    return subprocess.Popen(cmd), f"http://127.0.0.1:{port}"


def _wait_ready(url: str) -> None:
    import httpx

    for _ in range(600):
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


def _measure(modes: list[str], root: Path, key: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start every server, load them interleaved, and add each one's CPU per request."""
    servers = [_start(mode, root) for mode in modes]
    try:
        for _, url in servers:
            _wait_ready(url)
        cpu = [_cpu_seconds(proc.pid) for proc, _ in servers]
        cmd = [sys.executable, __file__, "--load", ",".join(u for _, u in servers), "--key", key,
               "--requests", str(args.requests), "--concurrency", str(args.concurrency),
               "--bursts", str(args.bursts)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800)
        results = json.loads(out.stdout.strip().splitlines()[-1])
        for r, (proc, _), before in zip(results, servers, cpu, strict=True):
            r["cpu"] = (_cpu_seconds(proc.pid) - before) / r["sent"] * 1e3
        return dict(zip(modes, results, strict=True))
    finally:
        for proc, _ in servers:
            proc.terminate()
        for proc, _ in servers:
            proc.wait(timeout=30)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_ok() -> bool:
    import sqlalchemy as sa

    try:
        with sa.create_engine(PG_URL).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True


def _drop_pg_tables(prefix: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        names = sa.inspect(conn).get_table_names()
        for name in names:
            if name.startswith(prefix):
                conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    engine.dispose()


def _table(results: dict[str, dict[str, float]]) -> str:
    bare = results["bare"]
    rows = [
        "| server | p50 ms | p99 ms | added p50 ms | added p99 ms | req/s | throughput vs bare "
        "| server CPU ms/req | CPU vs bare |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, r in results.items():
        rows.append(
            f"| {mode} | {r['p50']:.2f} | {r['p99']:.2f} | {r['p50'] - bare['p50']:+.2f} | "
            f"{r['p99'] - bare['p99']:+.2f} | {r['rps']:.0f} | {r['ratio']:.0%} | "
            f"{r['cpu']:.2f} | {r['cpu'] / bare['cpu']:.2f}x |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--serve")
    parser.add_argument("--load")
    parser.add_argument("--root", type=Path)
    parser.add_argument("--port", type=int)
    parser.add_argument("--key")
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.root, args.port)
    if args.load:
        return load(args.load.split(","), args.key, args.requests, args.concurrency, args.bursts)
    prefix = f"bench_{secrets.token_hex(4)}"
    os.environ["BENCH_PG_PREFIX"] = prefix
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _make_model(root)
        from aiarmor.serving.wiring import open_key_store

        key = open_key_store(_settings(root)).create(["predict"])[0]
        modes = ["bare", "gateway"] + (["gateway+pg"] if _postgres_ok() else [])
        if Path("/dev/shm").is_dir():
            modes.append("gateway, audit on tmpfs")
        try:
            results = _measure(modes, root, key, args)
        finally:
            if "gateway+pg" in modes:
                _drop_pg_tables(prefix)
    print(f"\n{args.requests} sequential requests per server (1 sample each, servers "
          f"interleaved), throughput: median of {args.bursts} interleaved bursts of "
          f"{args.concurrency} clients\n")  # fmt: skip
    print(_table(results))
    if "gateway+pg" not in modes:
        print("\n(PostgreSQL on 127.0.0.1:5432 not reachable: gateway+pg skipped)")


if __name__ == "__main__":
    main()
