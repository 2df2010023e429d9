import datetime as dt

import pytest

from aiarmor.core import PolicyError, Severity, load_policy, parse_policy
from aiarmor.core.policy import STARTER_POLICY

FULL = """
[policy]
fail_on = "medium"
required = ["baseline.performance"]

[checks."baseline.performance"]
min_accuracy = 0.9

[thresholds."baseline.performance".ece]
max = 0.1
severity = "low"

[suppress."robustness.input_validation"]
justification = "gateway validates inputs"
titles = ["NaN"]
expires = 2030-01-01
"""


def test_full_policy_parses():
    p = parse_policy(FULL, source="p.toml")
    assert p.fail_on is Severity.MEDIUM
    assert p.required == ("baseline.performance",)
    assert p.params_for("baseline.performance") == {"min_accuracy": 0.9}
    assert p.params_for("other") == {}
    (t,) = p.thresholds
    assert (t.metric, t.max, t.min, t.severity) == ("ece", 0.1, None, Severity.LOW)
    (s,) = p.suppressions
    today = dt.date(2026, 1, 1)
    assert p.suppression_for("robustness.input_validation", "NaN output", today) is s
    assert p.suppression_for("robustness.input_validation", "crash", today) is None
    assert p.suppression_for("robustness.input_validation", "NaN", dt.date(2031, 1, 1)) is None


def test_starter_policy_is_valid():
    p = parse_policy(STARTER_POLICY)
    assert p.fail_on is Severity.HIGH


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[policy\n", "invalid TOML"),
        ('[policy]\nfail_on = "severe"', "unknown severity"),
        ("[policy]\nrequired = 3", "list of check ids"),
        ("[policy]\nfailon = 'high'", "unknown key"),
        ("[nonsense]\na = 1", "unknown top-level"),
        ('[suppress."x.y"]\ntitles = []', "written justification"),
        ('[suppress."x.y"]\njustification = "   "', "written justification"),
        ('[suppress."x.y"]\njustification = "ok"\nexpires = "soon"', "TOML date"),
        ('[thresholds."x.y".m]\nseverity = "low"', "needs min or max"),
        ('[thresholds."x.y".m]\nmin = "high"', "must be a number"),
        ('[thresholds."x.y".m]\nmin = 1\nbogus = 2', "unknown key"),
        ("checks = 3", "must be a table"),
    ],
)
def test_bad_policies_give_one_line_errors(text, message):
    with pytest.raises(PolicyError, match=message) as info:
        parse_policy(text, source="p.toml")
    assert "\n" not in str(info.value).strip()


def test_load_policy_reports_missing_and_binary_files(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(bad)
