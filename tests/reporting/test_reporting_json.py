"""report.json: strict JSON, stable output, and the shipped schema as the contract."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from aiarmor.core.errors import InputError
from aiarmor.core.report import Report
from aiarmor.reporting import load_schema, report_to_json, validate_report


def _strict_loads(text: str) -> Any:
    def reject(token: str) -> None:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=reject)


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("/draft/2020-12/schema")


def test_load_schema_returns_a_copy():
    load_schema()["required"].clear()
    assert "verdict" in load_schema()["required"]


def test_report_json_validates_and_nan_becomes_null(report: Report):
    data = _strict_loads(report_to_json(report))
    validate_report(data)
    metrics = {c["id"]: c["metrics"] for c in data["checks"]}
    assert metrics["baseline.performance"]["ece"] is None
    assert data["summary"]["suppressed"] == 1
    assert data["findings"][0]["severity"] == "critical"


def test_hostile_report_still_validates(hostile_report: Report):
    validate_report(_strict_loads(report_to_json(hostile_report)))


def test_output_is_stable_indented_and_key_sorted(report: Report):
    text = report_to_json(report)
    assert text == report_to_json(report)
    assert text.startswith('{\n  "checks"')
    data = json.loads(text)
    assert list(data) == sorted(data)


def test_non_finite_values_outside_metrics_never_produce_nan_literals(report: Report):
    broken = dataclasses.replace(report, timings={"total": math.inf, "a.b": 1.0})
    data = _strict_loads(report_to_json(broken))
    assert data["timings"] == {"a.b": 1.0}  # a non-finite timing is dropped, never NaN
    validate_report(data)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (_set(("findings", 0, "severity"), "severe"), "findings/0/severity"),
        (_delete(("findings", 1, "title")), "findings/1"),
        (_delete(("verdict",)), "(root)"),
        (_set(("verdict",), "maybe"), "verdict"),
        (_set(("checks", 0, "status"), "done"), "checks/0/status"),
        (_set(("checks", 0, "surprise"), 1), "checks/0"),
        (_set(("findings", 0, "extra"), True), "findings/0"),
        (_set(("findings", 0, "standards"), ["CWE:79"]), "findings/0/standards/0"),
        (_set(("checks", 0, "metrics", "x"), "high"), "checks/0/metrics/x"),
        (_delete(("checks", 2, "reason")), "checks/2"),
        (_delete(("findings", 2, "justification")), "findings/2"),
        (_set(("summary", "findings", "critical"), -1), "summary/findings/critical"),
    ],
)
def test_corrupted_reports_are_rejected_with_a_one_line_reason(report: Report, mutate, where):
    data = json.loads(report_to_json(report))
    suppressed = [i for i, f in enumerate(data["findings"]) if f["suppressed"]]
    assert suppressed == [2]  # the parametrized path above relies on it
    broken = copy.deepcopy(data)
    mutate(broken)
    with pytest.raises(InputError) as info:
        validate_report(broken)
    message = str(info.value)
    assert f"at {where}" in message
    assert "\n" not in message
