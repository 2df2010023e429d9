"""``aiarmor scan --format sarif``: valid SARIF 2.1.0 on the audit's conventions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from aiarmor.core.findings import Finding, Location, Severity
from aiarmor.reporting.sarif import FINGERPRINT_KEY, SCAN_TOOL_NAME, fingerprint, scan_to_sarif
from aiarmor.scanning import ScanReport, scan, scan_bytes
from aiarmor.scanning.testing.builders import PAYLOAD, zip_bytes

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
GLOBAL_AT = PAYLOAD.index(b"cos\n")


def _run(report: ScanReport) -> dict[str, Any]:
    log = scan_to_sarif(report)
    (run,) = log["runs"]
    return run


def _mixed() -> ScanReport:
    blob = zip_bytes({"a/data.pkl": PAYLOAD, "../escape.txt": b"x", "notes.json": PAYLOAD})
    return scan_bytes(blob, path="models/m.zip")


def test_validates_against_the_official_schema(sarif_validator: Draft4Validator) -> None:
    for report in (_mixed(), scan_bytes(b"text\n", path="r.md"), scan_bytes(PAYLOAD, path="x")):
        sarif_validator.validate(json.loads(json.dumps(scan_to_sarif(report))))


def test_hostile_and_undecodable_names_stay_valid(
    sarif_validator: Draft4Validator, tmp_path: Path
) -> None:
    report = scan_bytes(zip_bytes({"e\x1b[2Jvil\x00.pkl": PAYLOAD}), path="bad\udcff dir/m.zip")
    log = scan_to_sarif(report)
    text = json.dumps(log)
    sarif_validator.validate(json.loads(text))
    assert "\\u001b" not in text and "\\u0000" not in text
    location = log["runs"][0]["results"][0]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "bad%FF%20dir/m.zip"


@pytest.mark.parametrize(
    ("path", "uri"),
    [("models/my model.pkl", "models/my%20model.pkl"), ("x#1?.pkl", "x%231%3F.pkl")],
)
def test_a_relative_path_stays_relative_and_escaped(path: str, uri: str) -> None:
    (result,) = [r for r in _run(scan_bytes(PAYLOAD, path=path))["results"]]
    (location,) = result["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": uri},
        "region": {"byteOffset": GLOBAL_AT},
    }
    assert "logicalLocations" not in location


def test_an_absolute_path_is_a_file_uri(tmp_path: Path) -> None:
    (tmp_path / "m.pkl").write_bytes(PAYLOAD)
    (result,) = _run(scan([tmp_path / "m.pkl"]))["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == (tmp_path / "m.pkl").as_uri()


def test_an_archive_member_is_a_logical_location_beside_its_file() -> None:
    results = _run(_mixed())["results"]
    member = next(r for r in results if r["ruleId"] == "scan.pickle.dangerous_callable")
    (location,) = member["locations"]
    assert location["physicalLocation"] == {"artifactLocation": {"uri": "models/m.zip"}}
    assert location["logicalLocations"] == [
        {"name": "a/data.pkl", "fullyQualifiedName": "models/m.zip!a/data.pkl", "kind": "resource"}
    ]
    assert location["properties"] == {"memberByteOffset": GLOBAL_AT}
    assert member["message"]["text"].endswith(" [models/m.zip!a/data.pkl]")


def test_levels_security_severity_and_rules_follow_the_audits_mapping() -> None:
    report = _mixed()
    run = _run(report)
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({f.check_id for f in report.findings})
    for finding, result in zip(report.findings, run["results"], strict=True):
        label = finding.severity.label
        assert result["ruleId"] == finding.check_id
        assert rules[result["ruleIndex"]]["id"] == finding.check_id
        assert result["level"] == LEVELS[label]
        assert result["properties"]["security-severity"] == SECURITY[label]
        assert result["properties"]["standards"] == list(finding.standards)
    for rule in rules:
        worst = max(f.severity for f in report.findings if f.check_id == rule["id"])
        assert rule["defaultConfiguration"] == {"level": LEVELS[worst.label]}
        assert rule["properties"]["security-severity"] == SECURITY[worst.label]
        assert rule["properties"]["tags"][0] == "security"
        assert rule["helpUri"].startswith("https://")


def test_the_driver_names_the_scan_and_its_version() -> None:
    driver = _run(_mixed())["tool"]["driver"]
    assert driver["name"] == SCAN_TOOL_NAME and driver["version"] == driver["semanticVersion"]


def test_fingerprints_tell_the_same_rule_in_two_files_apart() -> None:
    report = scan_bytes(zip_bytes({"a.pkl": PAYLOAD, "b.pkl": PAYLOAD}), path="m.zip")
    prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in _run(report)["results"]]
    assert len(prints) == len(set(prints)) == 2


def test_an_audit_findings_fingerprint_is_unchanged_by_locations() -> None:
    plain = Finding("robustness.evasion", Severity.HIGH, "Accuracy collapses", "d", "r")
    expected = hashlib.sha256(b"robustness.evasion\x00Accuracy collapses").hexdigest()[:32]
    assert fingerprint(plain) == expected
    located = Finding(plain.check_id, plain.severity, plain.title, "d", "r", location=Location("m"))
    assert fingerprint(located) != expected


def test_paths_that_could_not_be_scanned_make_the_run_unsuccessful(tmp_path: Path) -> None:
    (invocation,) = _run(scan([tmp_path / "gone.pt"]))["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and "gone.pt" in note["message"]["text"]
    (ok,) = _run(scan_bytes(b"text\n", path="r.md"))["invocations"]
    assert ok == {"executionSuccessful": True, "toolExecutionNotifications": []}
