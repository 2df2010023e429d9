"""report.junit.xml: one test case per check, parseable and free of illegal characters."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aiarmor.core.report import Report
from aiarmor.reporting import report_to_junit


def _suite(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    return suite


def test_counts_match_the_checks(report: Report):
    text = report_to_junit(report)
    root = ET.fromstring(text)
    suite = _suite(text)
    for element in (root, suite):
        assert element.get("tests") == "4"
        assert element.get("failures") == "1"
        assert element.get("errors") == "1"
        assert element.get("skipped") == "1"
        assert element.get("time") == "3.700"
    assert suite.get("name") == "aiarmor"
    names = [case.get("name") for case in suite.findall("testcase")]
    assert names == [c.id for c in report.checks]
    assert suite.find("testcase").get("classname") == "aiarmor.robustness"


def test_each_status_maps_to_its_element(report: Report):
    cases = {case.get("name"): case for case in _suite(report_to_junit(report)).iter("testcase")}
    failure = cases["robustness.evasion"].find("failure")
    assert failure.get("type") == "critical"
    assert failure.get("message").startswith("4 findings, worst critical")
    assert "Gradient masking suspected" in failure.text
    assert "Accepted risk" not in failure.text
    assert "Accepted risk" in cases["robustness.evasion"].find("system-out").text
    assert cases["poisoning.backdoor"].find("error").get("message").endswith("NaN logits")
    assert cases["privacy.membership"].find("skipped").get("message") == "needs --train data"
    passed = cases["baseline.performance"]
    assert passed.find("failure") is None and passed.find("error") is None
    props = {p.get("name"): p.get("value") for p in passed.find("properties")}
    assert props == {"accuracy": "0.97", "ece": "n/a", "n": "1000"}


def test_illegal_xml_characters_are_stripped_and_text_survives(hostile_report: Report):
    text = report_to_junit(hostile_report)
    assert not any(ch in text for ch in "\x00\x1b\x07\x0b")
    failure = _suite(text).find("testcase").find("failure")
    assert "Pickle opcode GLOBAL os.system[31m" in failure.text
    assert "<script>alert(1)</script>" in failure.text  # escaped on the wire, intact when parsed
    assert "<script>" not in text


def test_run_properties_are_json_not_python_repr(report: Report):
    import dataclasses

    odd = dataclasses.replace(
        report, subject={**report.subject, "capabilities": ["labels", "scores"], "policy": None}
    )
    props = {p.get("name"): p.get("value") for p in _suite(report_to_junit(odd)).find("properties")}
    assert props["subject.capabilities"] == '["labels", "scores"]'
    assert props["subject.policy"] == "null"
    assert props["verdict"] == report.verdict.value


def test_incomplete_verdict_is_carried(report: Report):
    import dataclasses

    from aiarmor.core.report import Verdict

    text = report_to_junit(dataclasses.replace(report, verdict=Verdict.INCOMPLETE))
    props = {p.get("name"): p.get("value") for p in _suite(text).find("properties")}
    assert props["verdict"] == "incomplete"
