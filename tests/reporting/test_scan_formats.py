"""The scan-format registry: ``aiarmor scan --format`` resolves every name through it."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiarmor.cli.scan_cmd import resolve_format
from aiarmor.core.errors import ConfigError
from aiarmor.reporting import scan_formats as registry
from aiarmor.reporting.scan_formats import ScanFormat, scan_formats
from aiarmor.scanning import scan_bytes
from aiarmor.scanning.testing.builders import PAYLOAD


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    scan_formats.cache_clear()
    yield
    monkeypatch.undo()
    scan_formats.cache_clear()


def test_the_registered_formats_in_order() -> None:
    assert list(scan_formats()) == ["text", "json", "sarif"]
    assert [f.for_terminal for f in scan_formats().values()] == [True, False, False]


def test_every_document_is_json_ending_in_a_newline() -> None:
    report = scan_bytes(PAYLOAD, path="x.pkl")
    for fmt in scan_formats().values():
        text = fmt.render(report)
        assert text.endswith("}\n") and json.loads(text)
    assert json.loads(scan_formats()["json"].render(report)) == report.to_dict()


def test_an_unknown_name_lists_the_registered_ones() -> None:
    expected = r"unknown --format 'xml' \(expected text, json or sarif\)"
    with pytest.raises(ConfigError, match=expected):
        resolve_format("xml")


def test_a_new_format_is_one_module_and_one_registration(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch, cli_main, tmp_path: Path
) -> None:
    module = types.ModuleType("demo_scan_format")
    module.FORMAT = ScanFormat("count", lambda r: f"{len(r.findings)}\n")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "demo_scan_format", module)
    monkeypatch.setattr(registry, "REGISTERED", (*registry.REGISTERED, "demo_scan_format:FORMAT"))
    (tmp_path / "x.pkl").write_bytes(PAYLOAD)
    code, out = cli_main("scan", tmp_path / "x.pkl", "--format", "count")
    assert (code, out) == (1, "1\n")


def test_duplicates_and_non_formats_are_rejected(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "REGISTERED", (*registry.REGISTERED, registry.REGISTERED[1]))
    with pytest.raises(ValueError, match="registered twice"):
        scan_formats()
    scan_formats.cache_clear()
    monkeypatch.setattr(registry, "REGISTERED", ("aiarmor.reporting.scan_formats:scan_formats",))
    with pytest.raises(TypeError, match="not a ScanFormat"):
        scan_formats()


@pytest.fixture
def cli_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from aiarmor.cli.main import main

    def run(*args: object) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["aiarmor", *map(str, args)])
        with pytest.raises(SystemExit) as info:
            main()
        return int(info.value.code or 0), capsys.readouterr().out

    return run
