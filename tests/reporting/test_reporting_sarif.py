"""report.sarif: valid SARIF 2.1.0 that code-scanning views can ingest."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from aiarmor.core.findings import CheckStatus
from aiarmor.core.report import Report
from aiarmor.reporting import report_to_sarif
from aiarmor.reporting.sarif import FINGERPRINT_KEY

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


@pytest.fixture(scope="module")
def log(report: Report) -> dict[str, Any]:
    return report_to_sarif(report)


def test_validates_against_the_official_sarif_schema(log, sarif_validator, hostile_report):
    sarif_validator.validate(json.loads(json.dumps(log, allow_nan=False)))
    sarif_validator.validate(report_to_sarif(hostile_report))


def test_the_validator_is_not_vacuous(log, sarif_validator):
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert not sarif_validator.is_valid(broken)


def test_what_github_code_scanning_requires(log, report: Report):
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "aiarmor"
    assert driver["version"] == "0.1.0"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == [c.id for c in report.checks]
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["message"]["text"]
        assert result["level"] in {"none", "note", "warning", "error"}
        assert result["locations"], "GitHub rejects results without a location"


def test_rules_carry_titles_standards_and_help(log):
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    evasion = rules["robustness.evasion"]
    assert evasion["shortDescription"]["text"] == "Evasion robustness"
    assert evasion["helpUri"] == "https://atlas.mitre.org/techniques/AML.T0015"
    assert "OWASP-ML:ML01" in evasion["properties"]["tags"]
    assert evasion["properties"]["security-severity"] == "9.5"
    assert "helpUri" not in rules["poisoning.backdoor"]


def test_one_result_per_finding_with_mapped_levels(log, report: Report):
    results = log["runs"][0]["results"]
    assert len(results) == len(report.findings)
    for finding, result in zip(report.findings, results, strict=True):
        label = finding.severity.label
        assert result["level"] == LEVELS[label]
        assert result["properties"]["severity"] == label
        assert result["properties"]["security-severity"] == SECURITY[label]
        assert result["properties"]["standards"] == list(finding.standards)
        assert result["message"]["text"].startswith(finding.title)
        assert finding.detail in result["message"]["text"]


def test_suppressed_findings_carry_an_external_suppression(log):
    results = log["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert len(suppressed) == 1
    (entry,) = suppressed[0]["suppressions"]
    assert entry["kind"] == "external"
    assert entry["justification"].startswith("reviewed 2026-11-02")
    assert sum("suppressions" not in r for r in results) == len(results) - 1


def test_fingerprints_are_stable_and_distinct(log, report: Report):
    prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in log["runs"][0]["results"]]
    assert len(set(prints)) == len(prints)
    assert prints == [
        r["partialFingerprints"][FINGERPRINT_KEY]
        for r in report_to_sarif(report)["runs"][0]["results"]
    ]


def test_invocation_reports_errors(log, report: Report):
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    # told once (report.errors repeats the errored check; issue 14 saw it twice)
    assert texts == ["check poisoning.backdoor errored: CheckError: model returned NaN logits"]
    ok = dataclasses.replace(
        report,
        checks=tuple(c for c in report.checks if c.status is not CheckStatus.ERROR),
        errors=(),
    )
    (invocation,) = report_to_sarif(ok)["runs"][0]["invocations"]
    assert invocation == {"executionSuccessful": True, "toolExecutionNotifications": []}


@pytest.mark.parametrize(
    ("model", "uri", "logical"),
    [
        ("models/classifier.onnx", "models/classifier.onnx", None),
        ("my model/v 1.onnx", "my%20model/v%201.onnx", None),
        ("/srv/models/net.pt", "file:///srv/models/net.pt", None),
        ("build_model.py:make", "build_model.py", "make"),
        ("mypkg.models:build", None, "build"),
        ("https://models.example/api/v1", None, "https://models.example/api/v1"),
        ("resnet18", None, "resnet18"),
    ],
)
def test_results_point_at_the_model_artifact(report: Report, model, uri, logical):
    subject = {**report.subject, "model": model}
    log = report_to_sarif(dataclasses.replace(report, subject=subject))
    (location,) = log["runs"][0]["results"][0]["locations"]
    physical = location.get("physicalLocation", {}).get("artifactLocation", {}).get("uri")
    assert physical == uri
    names = [entry["name"] for entry in location.get("logicalLocations", [])]
    assert names == ([logical] if logical else [])


def test_attacker_text_is_cleaned_of_control_characters(hostile_report: Report):
    text = json.dumps(report_to_sarif(hostile_report))
    for char in ("\\u0000", "\\u001b", "\\u0007", "\\u000b"):
        assert char not in text
    assert "Pickle opcode GLOBAL os.system" in text
