import json
import math

import pytest

from aiarmor.core import Chart, CheckResult, CheckStatus, ConfigError, Finding, Series, Severity


def test_severity_is_ordered_and_parses_any_case():
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert Severity.parse("HiGh") is Severity.HIGH
    assert Severity.parse(Severity.LOW) is Severity.LOW
    with pytest.raises(ConfigError, match="unknown severity 'severe'"):
        Severity.parse("severe")


def test_finding_is_frozen_and_serializes_numpy_evidence():
    np = pytest.importorskip("numpy")
    f = Finding(
        check_id="x.y",
        severity=Severity.HIGH,
        title="t",
        detail="d",
        remediation="r",
        standards=("OWASP-ML:ML01",),
        evidence={"n": np.int64(3), "arr": np.array([1.5, np.nan]), "nested": {"k": (1, 2)}},
    )
    with pytest.raises(AttributeError):
        f.title = "changed"  # type: ignore[misc]
    d = f.to_dict()
    assert d["severity"] == "high"
    assert d["evidence"] == {"n": 3, "arr": [1.5, None], "nested": {"k": [1, 2]}}
    json.dumps(d, allow_nan=False)


def test_check_result_reports_nan_metrics_as_null():
    chart = Chart("c", "t", "bar", (Series("s", ("a", "b"), (1.0, math.inf), (0.1, 0.2)),))
    r = CheckResult(
        id="a.b",
        title="A",
        status=CheckStatus.PASSED,
        metrics={"ok": 0.5, "bad": math.nan},
        charts=(chart,),
    )
    d = r.to_dict()
    assert d["metrics"] == {"ok": 0.5, "bad": None}
    assert d["charts"][0]["series"][0]["y"] == [1.0, None]
    assert "reason" not in d
    json.dumps(d, allow_nan=False)
