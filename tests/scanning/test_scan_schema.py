"""The scan JSON (``aiarmor scan --format json``) is a versioned contract with a shipped schema."""

from __future__ import annotations

import fnmatch
import io
import json
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from aiarmor import __version__
from aiarmor.modelfiles.results import SCAN_SCHEMA_VERSION
from aiarmor.scanning import scan, scan_bytes

PAYLOAD = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
ROOT = Path(__file__).resolve().parents[2]


def _schema() -> dict:
    text = resources.files("aiarmor.scanning").joinpath("scan.schema.json").read_text("utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return schema


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "blob",
    [PAYLOAD, b"plain text\n", bytes(range(256)), _zip({"a/data.pkl": PAYLOAD, "../x": b"y"})],
    ids=["pickle", "text", "unknown", "zip"],
)
def test_scan_json_follows_the_shipped_schema(blob: bytes) -> None:
    data = scan_bytes(blob, path="m.bin").to_dict()
    Draft202012Validator(_schema()).validate(data)
    assert data["schema_version"] == SCAN_SCHEMA_VERSION
    assert data["tool"] == {"name": "aiarmor", "version": __version__}


def test_scan_json_with_errors_follows_the_schema(tmp_path: Path) -> None:
    data = scan([tmp_path / "missing.pt"]).to_dict()
    Draft202012Validator(_schema()).validate(data)
    assert data["summary"]["result"] == "error" and data["summary"]["exit_code"] == 2


def test_the_schema_rejects_what_breaks_the_contract() -> None:
    data = scan_bytes(PAYLOAD, path="m.pkl").to_dict()
    validator = Draft202012Validator(_schema())
    for broken in (
        {k: v for k, v in data.items() if k != "schema_version"},
        {**data, "summary": {**data["summary"], "result": "safe"}},
        {**data, "findings": [{**data["findings"][0], "severity": "harmless"}]},
    ):
        assert not validator.is_valid(broken)


def test_summary_result_follows_the_exit_code_rule() -> None:
    info_only = scan_bytes(bytes(range(256)), path="blob.bin")
    summary = info_only.to_dict()["summary"]
    assert info_only.exit_code == 0 and summary["result"] == "no findings"
    assert summary["findings"]["info"] == 1 and summary["fail_on"] == "low"
    assert scan_bytes(PAYLOAD, path="m.pkl").to_dict()["summary"]["result"] == "findings"


def test_the_schema_is_package_data_of_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["aiarmor"]
    assert any(fnmatch.fnmatch("scanning/scan.schema.json", p) for p in patterns)
