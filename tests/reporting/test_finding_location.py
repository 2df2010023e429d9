"""core.Finding's optional Location: absent from audit findings' JSON, allowed by the schema."""

from __future__ import annotations

import copy
import json

import pytest

from aiarmor.core.errors import InputError
from aiarmor.core.findings import Finding, Location, Severity
from aiarmor.core.report import Report
from aiarmor.reporting import report_to_json, validate_report

KEYS = ["check_id", "severity", "title", "detail", "evidence", "remediation", "standards",
        "suppressed"]  # fmt: skip


def test_an_audit_findings_json_form_is_unchanged() -> None:
    finding = Finding("baseline.performance", Severity.LOW, "t", "d", "r")
    assert finding.location is None and list(finding.to_dict()) == KEYS


def test_a_located_finding_says_where() -> None:
    finding = Finding("scan.pickle", Severity.HIGH, "t", "d", "r", location=Location("m.zip"))
    assert finding.to_dict()["location"] == {"path": "m.zip"}
    inside = Location("m.zip", "a!b.pkl", 7)
    assert inside.to_dict() == {"path": "m.zip", "member": "a!b.pkl", "offset": 7}
    assert inside.display == "m.zip!a!b.pkl" and Location("m.zip").display == "m.zip"


def _doc(report: Report) -> dict:
    return json.loads(report_to_json(report))


def test_report_json_of_audit_findings_has_no_location(report: Report) -> None:
    assert all("location" not in f for f in _doc(report)["findings"])


def test_the_schema_accepts_a_location_and_rejects_a_malformed_one(report: Report) -> None:
    doc = _doc(report)
    doc["findings"][0]["location"] = {"path": "m.zip", "member": "a.pkl", "offset": 3}
    validate_report(doc)
    for bad in ({"member": "a.pkl"}, {"path": "m", "offset": -1}, {"path": "m", "line": 1}):
        broken = copy.deepcopy(doc)
        broken["findings"][0]["location"] = bad
        with pytest.raises(InputError, match="location"):
            validate_report(broken)
