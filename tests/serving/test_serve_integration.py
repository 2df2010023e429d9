"""The real ``aiarmor serve`` on a loopback port, driven over HTTP; and the keys CLI."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from aiarmor.serving.audit.log import AuditLog

AIARMOR = [sys.executable, "-m", "aiarmor.cli.main"]
X = [[0.1, 0.2, 0.3, 0.4]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_config(root: Path, port: int) -> Path:
    config = root / "gateway.toml"
    config.write_text(
        f"""
[server]
port = {port}
max_body_bytes = 65536

[auth]
key_store = "sqlite:///keys.db"
server_secret = {{ file = "server.secret" }}

[limits]
rate = 100.0
burst = 100

[detection.config]
blacklight = {{ quantization = 0.2, action = "alert" }}

[audit]
url = "sqlite:///audit.db"
key = {{ env = "TEST_AUDIT_KEY" }}

[[models]]
name = "tiny"
path = "model.pt"
public_key = "signer.pub"
n_classes = 3
input = {{ shape = [4], min = -10.0, max = 10.0 }}
output.default = {{ top_k = 1 }}
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def deployment(artifact_dir, tmp_path):
    for name in ("model.pt", "model.pt.aiarmor-sig.json", "signer.pub", "server.secret"):
        shutil.copy(artifact_dir / name, tmp_path / name)
    env = {**os.environ, "TEST_AUDIT_KEY": (artifact_dir / "audit.key").read_text()}
    return tmp_path, _write_config(tmp_path, _free_port()), env


def _run(args, env, cwd) -> subprocess.CompletedProcess[str]:
    """The CLI in process (a subprocess costs a full import of aiarmor, torch included)."""
    from typer.testing import CliRunner

    from aiarmor.cli.main import app, main

    old = os.getcwd()
    os.chdir(cwd)
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                if name.startswith("TEST_"):
                    mp.setenv(name, value)
            mp.setattr(sys, "argv", ["aiarmor", *args])
            result = CliRunner().invoke(app, args, catch_exceptions=True)
            code, err = result.exit_code, result.stderr
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                code, err = _as_main_would(main, args)
    finally:
        os.chdir(old)
    return subprocess.CompletedProcess(args, code, result.stdout, err)


def _as_main_would(main, args) -> tuple[int, str]:
    """Run ``main()`` (one-line errors, exit 2) and capture what it prints on stderr."""
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stderr(buf), pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), buf.getvalue()


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not become ready")


@pytest.mark.slow
def test_the_real_server_authenticates_validates_limits_audits_and_survives_kill_9(deployment):
    root, config, env = deployment
    created = _run(["keys", "create", "--config", str(config), "--scope", "predict",
                    "--scope", "admin", "--scope", "audit"], env, root)  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("aiarmor_") and key not in (root / "keys.db").read_text(errors="replace")
    port = int(config.read_text().split("port = ")[1].split()[0])
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*AIARMOR, "serve", "--config", str(config)], env=env, cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        _wait_ready(url, proc)
        with httpx.Client(base_url=url, timeout=10) as http:
            _exercise(http, key)
        acknowledged = _crash_under_load(url, key, proc)
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=30)
    assert key.encode() not in stderr  # secrets never logged
    audit = AuditLog(f"sqlite:///{root / 'audit.db'}", env["TEST_AUDIT_KEY"].encode())
    try:
        assert audit.verify().ok
        logged = {row["input_sha256"] for row in audit.query(model="tiny", limit=100_000)}
    finally:
        audit.close()
    assert len(acknowledged) >= 10 and acknowledged <= logged


def _crash_under_load(url: str, key: str, proc: subprocess.Popen[bytes]) -> set[str]:
    """kill -9 the server while 6 clients send unique requests; the acknowledged ones' hashes."""
    acknowledged: set[str] = set()
    stop = threading.Event()

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=5) as http:
            for j in range(10_000):
                if stop.is_set():
                    return
                body = json.dumps({"inputs": [[i / 10, j / 10_000, 0.0, 0.0]]}).encode()
                try:
                    r = http.post("/v1/models/tiny/predict", content=body,
                                  headers={"Authorization": f"Bearer {key}",
                                           "Content-Type": "application/json"})  # fmt: skip
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    acknowledged.add(hashlib.sha256(body).hexdigest())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    return set(acknowledged)


def _exercise(http: httpx.Client, key: str) -> None:
    good = {"Authorization": f"Bearer {key}"}
    r = http.post("/v1/models/tiny/predict", json={"inputs": X}, headers=good)
    assert r.status_code == 200 and len(r.json()["scores"][0]) == 1
    assert r.headers["x-content-type-options"] == "nosniff" and "server" not in r.headers
    assert http.post("/v1/models/tiny/predict", json={"inputs": X}).status_code == 401
    buf = io.BytesIO()
    np.save(buf, np.asarray(X * 3, dtype=np.float32))
    r = http.post("/v1/models/tiny/predict", content=buf.getvalue(),
                  headers={**good, "Content-Type": "application/x-npy"})  # fmt: skip
    assert r.status_code == 200 and len(r.json()["labels"]) == 3
    r = http.post("/v1/models/tiny/predict", content=b"1" * 70_000,
                  headers={**good, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 413
    r = http.post("/v1/models/tiny/predict", json={"inputs": [[float("1e308")] * 4]}, headers=good)
    assert r.status_code == 422
    assert http.get("/v1/audit/verify", headers=good).json()["ok"] is True
    log = http.get("/v1/audit/log", params={"model": "tiny"}, headers=good).json()
    assert {row["decision"] for row in log} >= {"allowed", "denied", "invalid"}
    assert http.get("/metrics", headers=good).status_code == 200


def test_keys_cli_and_start_up_refusals(deployment):
    root, config, env = deployment
    created = _run(["keys", "create", "--config", str(config), "--scope", "predict"], env, root)
    key_id = created.stdout.split()[1]
    listed = _run(["keys", "list", "--config", str(config)], env, root)
    assert key_id in listed.stdout and "active" in listed.stdout
    assert _run(["keys", "revoke", "--config", str(config), key_id], env, root).returncode == 0
    again = _run(["keys", "revoke", "--config", str(config), key_id], env, root)
    assert again.returncode == 2 and "no active key" in again.stderr
    bad = _run(["keys", "create", "--config", str(config), "--scope", "root"], env, root)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_tampered_model_and_a_bad_config(deployment):
    root, config, env = deployment
    data = bytearray((root / "model.pt").read_bytes())
    data[100] ^= 1
    (root / "model.pt").write_bytes(bytes(data))
    r = _run(["serve", "--config", str(config)], env, root)
    assert r.returncode == 2 and "refused" in r.stderr and "Traceback" not in r.stderr
    config.write_text(config.read_text() + "\n[surprise]\nx = 1\n")
    r = _run(["serve", "--config", str(config)], env, root)
    assert r.returncode == 2 and "surprise" in r.stderr and "Traceback" not in r.stderr


def test_the_cli_uses_the_configs_files_from_any_directory_and_serve_refuses_a_new_log(
    deployment, tmp_path_factory
):
    root, config, env = deployment
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    args = ["keys", "create", "--config", str(config), "--scope", "admin"]
    created = _run(args, env, elsewhere)
    assert created.returncode == 0, created.stderr
    assert (root / "keys.db").is_file() and list(elsewhere.iterdir()) == []
    with AuditLog(f"sqlite:///{root / 'audit.db'}", env["TEST_AUDIT_KEY"].encode()) as log:
        row = log.query(limit=1)[0]
        assert (row["identity"], row["route"], row["status"]) == ("cli", "cli.keys.create", 201)
        assert log.verify().ok
    config.write_text(config.read_text().replace("sqlite:///audit.db", "sqlite:///new.db"))
    r = _run(["serve", "--config", str(config)], env, elsewhere)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "empty, but the key store already holds keys" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
