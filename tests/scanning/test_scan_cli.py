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


# ------------------------------------------------------------- issue 14: words match exit code


def test_only_informational_notes_exit_0_and_say_so(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    # two unrecognized binaries are info notes: exit 0, so the words must not say "findings"
    (tmp_path / "a.bin").write_bytes(bytes(range(256)))
    (tmp_path / "b.bin").write_bytes(bytes(range(255, -1, -1)))
    run = cli("scan", tmp_path)
    assert run.code == 0, run.out
    assert "no findings at or above low" in run.out and "2 informational notes" in run.out
    assert "2 findings" not in run.out and "safe" not in run.out.lower()


def test_findings_count_only_what_sets_the_exit_code(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "model.pkl").write_bytes(PAYLOAD)
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    run = cli("scan", tmp_path)
    assert run.code == 1
    assert "1 finding at or above low and 1 informational note in 2 files" in run.out


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_a_missing_path_is_exit_2_one_line_and_no_verdict(
    cli: Callable[..., Run], tmp_path: Path, fmt: str
) -> None:
    (tmp_path / "real.bin").write_bytes(PAYLOAD)
    run = cli("scan", tmp_path / "real.bin", tmp_path / "gone\x1b[2J.pt", "--format", fmt)
    assert run.code == 2 and run.out == ""
    assert run.err.count("\n") == 1 and "does not exist" in run.err and "\x1b" not in run.err


def test_an_unreadable_file_never_reads_as_no_findings(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    scan_module = importlib.import_module("aiarmor.scanning.scan")

    def refuse(ctx: object, file: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(scan_module, "_scan_file", refuse)
    (tmp_path / "notes.txt").write_text("hi")
    run = cli("scan", tmp_path / "notes.txt")
    assert run.code == 2 and "no findings" not in run.out
    assert "scan incomplete" in run.out and "Permission denied" in run.err


def test_aiarmor_encrypted_files_are_recognized_not_unknown(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    from aiarmor.modelfiles import keys
    from aiarmor.modelfiles.encryption import encrypt_file

    (tmp_path / "model.bin").write_bytes(PAYLOAD)  # the plaintext is a malicious pickle
    enc = encrypt_file(tmp_path / "model.bin", tmp_path / "x", keys.generate_master_key())
    run = cli("scan", enc, "--format", "json")
    report = json.loads(run.out)
    assert run.code == 0
    (entry,) = report["files"]
    assert entry["format"] == "aiarmor-encrypted" and entry["details"]["content"] == "file"
    (note,) = report["findings"]
    assert note["rule"] == "scan.format.encrypted" and note["severity"] == "info"
    assert "decrypt" in note["detail"] and "safe" not in json.dumps(report).lower()
    text = cli("scan", enc).out
    assert "no findings at or above low" in text and "1 informational note" in text


@pytest.mark.parametrize(
    "data",
    [b"AIARMENC", b"AIARMENC\x01\x00" + b"\x00" * 20, b"AIARMENC\x07" + b"\x00" * 100],
    ids=["magic-only", "truncated-header", "bad-version"],
)
def test_a_malformed_encrypted_header_is_a_finding(
    cli: Callable[..., Run], tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "model.aiarmor-enc"
    path.write_bytes(data)
    run = cli("scan", path, "--format", "json")
    (finding,) = json.loads(run.out)["findings"]
    assert run.code == 1 and finding["rule"] == "scan.format.encrypted_malformed"


def test_bidi_controls_in_file_names_are_escaped(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    bad = tmp_path / "evil\u202egnp.bin"
    bad.write_bytes(PAYLOAD)
    run = cli("scan", bad)
    assert run.code == 1 and "\u202e" not in run.out
