"""write_reports: every format, written atomically, nothing half-done on bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from aiarmor.core.errors import ConfigError
from aiarmor.core.report import Report
from aiarmor.reporting import validate_report, write_reports


@pytest.fixture(scope="module")
def written(report: Report, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_reports(report, tmp_path_factory.mktemp("out") / "nested" / "dir")


def test_writes_all_four_files(written: dict[str, Path]):
    assert {fmt: p.name for fmt, p in written.items()} == {
        "json": "report.json",
        "html": "report.html",
        "sarif": "report.sarif",
        "junit": "report.junit.xml",
    }
    validate_report(json.loads(written["json"].read_text(encoding="utf-8")))
    assert json.loads(written["sarif"].read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert ET.parse(written["junit"]).getroot().tag == "testsuites"
    assert written["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    folder = written["json"].parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written.values())


def test_subset_and_overwrite_leave_no_temporary_files(report: Report, tmp_path: Path):
    (tmp_path / "report.json").write_text("stale", encoding="utf-8")
    out = write_reports(report, tmp_path, formats=("json", "json"))
    assert list(out) == ["json"]
    assert json.loads(out["json"].read_text(encoding="utf-8"))["verdict"] == "fail"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_unknown_format_is_rejected_before_anything_is_written(report: Report, tmp_path: Path):
    with pytest.raises(ConfigError, match=r"unknown report format.*pdf"):
        write_reports(report, tmp_path / "out", formats=("json", "pdf"))
    assert not (tmp_path / "out").exists()


def test_no_format_at_all_is_rejected_before_anything_is_written(report: Report, tmp_path: Path):
    with pytest.raises(ConfigError, match="no report format"):
        write_reports(report, tmp_path / "out", formats=())
    assert not (tmp_path / "out").exists()
