"""``aiarmor audit-log`` through the console entry point: exit codes 0/1/2, escaping."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy")

from aiarmor.serving.audit.log import AuditEntry, AuditLog


@pytest.fixture
def logged(tmp_path: Path, cli: Callable[..., Any]) -> tuple[str, Path]:
    key = tmp_path / "audit.key"
    assert cli("audit-log", "keygen", "--out", key).code == 0
    assert key.stat().st_mode & 0o077 == 0
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditLog(url, key.read_bytes().rstrip(b"\n")) as log:
        for i, who in enumerate(["alice", "\x1b[31mmallory\x1b]8;;x\x07", "[bold]bob"]):
            log.append(AuditEntry(1.7e9 + i, who, "digits", "predict", "", '{"labels":[1]}',
                                  "allowed", 200, {"blacklight": 0.0}))  # fmt: skip
    return url, key


def test_verify_intact_then_tampered(cli: Callable[..., Any], logged: tuple[str, Path]) -> None:
    url, key = logged
    run = cli("audit-log", "verify", "--db", url, "--key-file", key)
    assert (run.code, run.out.strip()) == (0, "audit log intact: 3 records, head at seq 3")
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE aiarmor_audit_records SET status = 500 WHERE seq = 2")
    run = cli("audit-log", "verify", "--db", url, "--key-file", key)
    assert run.code == 1
    assert "TAMPERED" in run.out and "seq 2: MAC mismatch" in run.out


@pytest.mark.parametrize("seq", [0, -1])
def test_verify_fails_on_a_forged_row_that_show_lists(
    cli: Callable[..., Any], logged: tuple[str, Path], seq: int
) -> None:
    url, key = logged
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute(
            f"INSERT INTO aiarmor_audit_records SELECT {seq}, time_us, 'forger', model, route, "
            "input_sha256, output_summary, decision, status, detector_scores, prev_mac, mac "
            "FROM aiarmor_audit_records WHERE seq = 1"
        )
    shown = cli("audit-log", "show", "--db", url, "--json")
    assert "forger" in shown.out
    run = cli("audit-log", "verify", "--db", url, "--key-file", key)
    assert run.code == 1, run.out
    assert f"seq {seq}: a record outside the chain" in run.out


def test_verify_with_a_checkpoint(
    cli: Callable[..., Any], logged: tuple[str, Path], tmp_path: Path
) -> None:
    url, key = logged
    cp = tmp_path / "cp.json"
    assert cli("audit-log", "checkpoint", "--db", url, "--key-file", key, "--out", cp).code == 0
    assert json.loads(cp.read_text())["seq"] == 3
    assert cli("audit-log", "verify", "--db", url, "--key-file", key, "--checkpoint", cp).code == 0
    cp.write_text("{}")
    run = cli("audit-log", "verify", "--db", url, "--key-file", key, "--checkpoint", cp)
    assert run.code == 2 and "not an aiarmor audit-log checkpoint" in run.err


def test_bad_input_exits_2(
    cli: Callable[..., Any], logged: tuple[str, Path], tmp_path: Path
) -> None:
    url, key = logged
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 10)
    cases = [
        (("--db", url), "exactly one of --key-file or --key-env"),
        (("--db", url, "--key-file", short), "shorter than 32 bytes"),
        (("--db", url, "--key-env", "NO_SUCH_VAR_AIARMOR"), "missing or shorter"),
        (("--db", f"sqlite:///{tmp_path / 'none.db'}", "--key-file", key), "does not exist"),
        (("--db", url, "--key-file", key, "--table-prefix", "other"), "no audit log named"),
        (("--db", "ftp://x", "--key-file", key), "must be sqlite"),
    ]
    for args, message in cases:
        run = cli("audit-log", "verify", *args)
        assert run.code == 2 and message in run.err, (args, run.err)
        assert "Traceback" not in run.err and len(run.err.strip().splitlines()) == 1
    assert not (tmp_path / "none.db").exists()
    assert cli("audit-log", "keygen", "--out", key).code == 2


def test_show_escapes_attacker_text(cli: Callable[..., Any], logged: tuple[str, Path]) -> None:
    url, _ = logged
    run = cli("audit-log", "show", "--db", url, "--last", "2")
    assert run.code == 0
    assert "\x1b" not in run.out.replace("\x1b[", "") and "\x07" not in run.out
    assert "?[31mmallory?]8;;x?" in run.out and "alice" not in run.out
    run = cli("audit-log", "show", "--db", url, "--json", "--identity", "[bold]bob")
    assert [json.loads(line)["identity"] for line in run.out.splitlines()] == ["[bold]bob"]
    assert "[bold]bob" in cli("audit-log", "show", "--db", url).out  # not read as markup


def test_without_the_serve_extra_the_cli_still_works(
    cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("sqlalchemy", "aiarmor.serving.audit.log", "aiarmor.serving.audit.store"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    assert cli("audit-log", "--help").code == 0
    run = cli("audit-log", "show", "--db", "sqlite:///x.db")
    assert run.code == 2 and "needs the serve extra" in run.err


@pytest.mark.parametrize("time_us", ["10**18", "'soon'", "-10**17"])
def test_show_lists_a_row_with_a_tampered_time_instead_of_crashing(
    cli: Callable[..., Any], logged: tuple[str, Path], time_us: str
) -> None:
    url, key = logged
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute(f"UPDATE aiarmor_audit_records SET time_us = {eval(time_us)!r} WHERE seq = 2")
    for args in ((), ("--json",)):
        run = cli("audit-log", "show", "--db", url, *args)
        assert run.code == 0 and "Traceback" not in run.err, run.err
        assert "mallory" in run.out
    assert cli("audit-log", "verify", "--db", url, "--key-file", key).code == 1
