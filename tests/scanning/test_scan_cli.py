"""``aiarmor scan`` through the console entry point: exit codes, formats, escaping."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

PAYLOAD = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Call ``aiarmor ARGS`` in process through ``aiarmor.cli.main.main``."""
    from aiarmor.cli.main import main

    def run(*args: object) -> Run:
        monkeypatch.setattr(sys, "argv", ["aiarmor", *map(str, args)])
        with pytest.raises(SystemExit) as info:
            main()
        captured = capsys.readouterr()
        code = info.value.code
        return Run(0 if code is None else int(code), captured.out, captured.err)

    return run


def test_exit_codes(cli: Callable[..., Run], tmp_path: Path) -> None:
    clean = tmp_path / "notes.txt"
    clean.write_text("hello\n")
    bad = tmp_path / "model.bin"
    bad.write_bytes(PAYLOAD)
    ok = cli("scan", clean)
    assert ok.code == 0 and "no findings" in ok.out and "safe" not in ok.out.lower()
    assert cli("scan", bad).code == 1
    missing = cli("scan", tmp_path / "missing.pt")
    assert missing.code == 2 and missing.err.count("\n") == 1


def test_json_and_sarif_parse(cli: Callable[..., Run], tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(PAYLOAD)
    report = json.loads(cli("scan", bad, "--format", "json").out)
    assert report["findings"] and report["summary"]["result"] == "findings"
    out = tmp_path / "r.sarif"
    assert cli("scan", bad, "--format", "sarif", "--out", out).code == 1
    assert json.loads(out.read_text())["version"] == "2.1.0"
    assert cli("scan", bad, "--format", "xml").code == 2


def test_hostile_file_name_is_escaped(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    bad = tmp_path / "[bold red]x\x1b[31mevil.bin"
    bad.write_bytes(PAYLOAD)
    run = cli("scan", bad)
    assert run.code == 1
    assert "\x1b[31m" not in run.out
    assert "[bold" in run.out  # markup shown literally, not interpreted
